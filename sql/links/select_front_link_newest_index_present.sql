-- Tells whether a Front link table has its index by owner newest first, built and valid: a first fill drops it while it owns the empty table, and every other write builds it back first.
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
        and index_row.indisvalid
) as index_present
