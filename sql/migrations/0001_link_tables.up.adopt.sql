-- The link tables the application already made, each with what keeps it from being adopted (problem null: adoptable).
-- A Front link table the app's own migration made (the Rails epic's) is adopted when it has what the contract needs:
-- a uuid primary key `id`, uuid owner and conversation columns, and `created_at` and `updated_at` stamps
-- (timestamptz, or timestamp holding UTC), and no other NOT NULL column the project's inserts leave empty.
-- project_conversations is the project's own: one the app made is not adopted.
with wanted (table_name, owner_column) as (
    values
    ('people_front_conversations', 'person_id'),
    ('clients_front_conversations', 'client_id')
),

existing as (
    select
        wanted.table_name,
        wanted.owner_column,
        table_row.oid as table_oid,
        table_row.relkind
    from wanted
    inner join pg_catalog.pg_class as table_row
        on table_row.relname = wanted.table_name
    inner join pg_catalog.pg_namespace as schema_row
        on
            schema_row.oid = table_row.relnamespace
            and schema_row.nspname = %(schema)s
),

needed_columns (column_name, column_types, type_hint) as (
    values
    ('id', array['uuid'], 'uuid primary key'),
    ('owner', array['uuid'], 'uuid not null'),
    ('front_conversation_id', array['uuid'], 'uuid not null'),
    ('created_at', array['timestamp with time zone', 'timestamp without time zone'], 'timestamp not null'),
    ('updated_at', array['timestamp with time zone', 'timestamp without time zone'], 'timestamp not null')
),

column_problems as (
    select
        existing.table_name,
        case
            when column_row.attname is null
                then format('has no column %%s: add it (%%s %%s)', real_column.name, real_column.name, needed_columns.type_hint)
            else format(
                'column %%s is %%s, not %%s',
                real_column.name,
                format_type(column_row.atttypid, column_row.atttypmod),
                array_to_string(needed_columns.column_types, ' or ')
            )
        end as problem
    from existing
    cross join needed_columns
    cross join lateral (
        select
            case
                when needed_columns.column_name = 'owner' then existing.owner_column
                else needed_columns.column_name
            end as name
    ) as real_column
    left join pg_catalog.pg_attribute as column_row
        on
            column_row.attrelid = existing.table_oid
            and column_row.attname = real_column.name
            and column_row.attnum > 0
            and not column_row.attisdropped
    where
        existing.relkind in ('r', 'p')
        and (
            column_row.attname is null
            or format_type(column_row.atttypid, null) != all(needed_columns.column_types)
        )
),

key_problems as (
    select
        existing.table_name,
        'has no primary key on (id) alone: make id its primary key' as problem
    from existing
    where
        existing.relkind in ('r', 'p')
        and not exists (
            select 1
            from pg_catalog.pg_constraint as key_row
            inner join pg_catalog.pg_attribute as column_row
                on
                    column_row.attrelid = key_row.conrelid
                    and column_row.attnum = key_row.conkey[1]
            where
                key_row.conrelid = existing.table_oid
                and key_row.contype = 'p'
                and cardinality(key_row.conkey) = 1
                and column_row.attname = 'id'
        )
),

kind_problems as (
    select
        existing.table_name,
        'is not a table (a view or another kind of relation): rename it, or make it a table' as problem
    from existing
    where existing.relkind not in ('r', 'p')
),

project_table as (
    select
        table_row.relname::text as table_name,
        'exists already: convo_pipelines keeps it itself and adopts only the Front link tables; rename or drop it'
            as problem
    from pg_catalog.pg_class as table_row
    inner join pg_catalog.pg_namespace as schema_row
        on schema_row.oid = table_row.relnamespace
    where
        schema_row.nspname = %(schema)s
        and table_row.relname = 'project_conversations'
),

unfillable_columns as (
    select
        existing.table_name,
        format(
            'column %%s is NOT NULL without a default, which the project''s inserts cannot fill: give it a default',
            column_row.attname
        ) as problem
    from existing
    inner join pg_catalog.pg_attribute as column_row
        on
            column_row.attrelid = existing.table_oid
            and column_row.attnum > 0
            and not column_row.attisdropped
    where
        existing.relkind in ('r', 'p')
        and column_row.attnotnull
        and not column_row.atthasdef
        and column_row.attidentity = ''
        and column_row.attgenerated = ''
        and column_row.attname not in (
            'id', existing.owner_column, 'front_conversation_id', 'created_at', 'updated_at'
        )
),

problems as (
    select * from column_problems
    union all
    select * from unfillable_columns

    union all
    select * from key_problems
    union all
    select * from kind_problems
    union all
    select * from project_table
)

select
    existing.table_name::text as table_name,
    null::text as problem
from existing
where not exists (select 1 from problems where problems.table_name = existing.table_name)
union all
select
    problems.table_name::text,
    problems.problem
from problems
order by 1, 2
