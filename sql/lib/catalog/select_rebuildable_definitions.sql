-- Lists the keys, standalone indexes and foreign keys of the given tables (foreign keys pointing at them included) with the DDL that recreates each, in rebuild order; read from the catalog so the migrations stay their single source of truth.
with target as (
    select relation.oid
    from pg_catalog.pg_class as relation
    inner join pg_catalog.pg_namespace as namespace
        on namespace.oid = relation.relnamespace
    where
        namespace.nspname = %(schema)s
        and relation.relname = any(%(tables)s)
),

-- A key cannot be dropped while a foreign key depends on it, so the foreign keys pointing at
-- the tables are lifted too, wherever they live; they are rebuilt last, once the keys exist.
table_constraints as (
    select
        case when constraint_row.contype = 'f' then 3 else 1 end as rebuild_order,
        'constraint' as kind,
        namespace.nspname::text as schema_name,
        owner.relname::text as table_name,
        constraint_row.conname::text as object_name,
        pg_catalog.pg_get_constraintdef(constraint_row.oid) as definition
    from pg_catalog.pg_constraint as constraint_row
    inner join pg_catalog.pg_class as owner
        on owner.oid = constraint_row.conrelid
    inner join pg_catalog.pg_namespace as namespace
        on namespace.oid = owner.relnamespace
    where
        (constraint_row.contype in ('p', 'u', 'x') and constraint_row.conrelid in (select target.oid from target))
        or (
            constraint_row.contype = 'f'
            and (
                constraint_row.conrelid in (select target.oid from target)
                or constraint_row.confrelid in (select target.oid from target)
            )
        )
),

standalone_indexes as (
    select
        2 as rebuild_order,
        'index' as kind,
        namespace.nspname::text as schema_name,
        owner.relname::text as table_name,
        index_relation.relname::text as object_name,
        pg_catalog.pg_get_indexdef(index_entry.indexrelid) as definition
    from pg_catalog.pg_index as index_entry
    inner join target
        on target.oid = index_entry.indrelid
    inner join pg_catalog.pg_class as owner
        on owner.oid = index_entry.indrelid
    inner join pg_catalog.pg_class as index_relation
        on index_relation.oid = index_entry.indexrelid
    inner join pg_catalog.pg_namespace as namespace
        on namespace.oid = index_relation.relnamespace
    where not exists (
        select 1
        from pg_catalog.pg_constraint as constraint_row
        where
            constraint_row.conrelid = index_entry.indrelid
            and constraint_row.conindid = index_entry.indexrelid
            and constraint_row.contype in ('p', 'u', 'x')
    )
),

rebuildable as (
    select * from table_constraints
    union all
    select * from standalone_indexes
)

select
    rebuildable.rebuild_order,
    rebuildable.kind,
    rebuildable.schema_name,
    rebuildable.table_name,
    rebuildable.object_name,
    rebuildable.definition
from rebuildable
order by rebuildable.rebuild_order, rebuildable.schema_name, rebuildable.table_name, rebuildable.object_name
