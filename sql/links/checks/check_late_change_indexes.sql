-- Names each source table the late-change sensor reads that has no valid index on greatest(created_at, updated_at), with the statement that creates one: without it every sensor tick reads the table in full.
with watched as (
    select watched_table as table_name
    from unnest(%(watched_tables)s::text[]) as watched_table
),

indexed as (
    select table_row.relname as table_name
    from pg_catalog.pg_index as index_row
    inner join pg_catalog.pg_class as table_row
        on table_row.oid = index_row.indrelid
    inner join pg_catalog.pg_namespace as schema_row
        on schema_row.oid = table_row.relnamespace
    where
        schema_row.nspname = %(source_schema)s
        and table_row.relname = any(%(watched_tables)s::text[])
        and index_row.indisvalid
        and index_row.indpred is null
        and index_row.indexprs is not null
        -- Only expression indexes reach pg_get_indexdef, which opens each index it is given: on a new
        -- session (a check that follows a run) deparsing every index of the schema would double this check.
        and pg_catalog.pg_get_indexdef(index_row.indexrelid, 1, true) = 'GREATEST(created_at, updated_at)'
),

missing as (
    select watched.table_name
    from watched
    where not exists (select 1 from indexed where indexed.table_name = watched.table_name)
)

select
    'tables_without_change_index' as problem,
    count(*) as violations,
    coalesce(
        jsonb_agg(
            format(
                'create index concurrently %%I on %%I.%%I ((greatest(created_at, updated_at)))',
                missing.table_name || %(index_suffix)s, %(source_schema)s, missing.table_name
            )
            order by missing.table_name
        ),
        '[]'::jsonb
    ) as samples
from missing
