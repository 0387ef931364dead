-- Tells whether an index of a schema exists but is not valid: what a CREATE INDEX CONCURRENTLY that was killed or failed leaves behind.
select exists(
    select 1
    from pg_catalog.pg_index as index_row
    inner join pg_catalog.pg_class as index_class
        on index_class.oid = index_row.indexrelid
    inner join pg_catalog.pg_namespace as schema_row
        on schema_row.oid = index_class.relnamespace
    where
        schema_row.nspname = %(schema)s
        and index_class.relname = %(index_name)s
        and not index_row.indisvalid
) as index_is_invalid
