-- Tells whether an index of a schema is valid: true, false (what a killed or failed CREATE INDEX CONCURRENTLY leaves), or null when there is no such index.
select (
    select index_row.indisvalid
    from pg_catalog.pg_index as index_row
    inner join pg_catalog.pg_class as index_class
        on index_class.oid = index_row.indexrelid
    inner join pg_catalog.pg_namespace as schema_row
        on schema_row.oid = index_class.relnamespace
    where
        schema_row.nspname = %(schema)s
        and index_class.relname = %(index_name)s
) as index_valid
