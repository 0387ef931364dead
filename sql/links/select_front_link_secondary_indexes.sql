-- Counts the secondary indexes of a Front link table (by conversation, by owner newest first) that it has now, built and valid: a first fill drops the one by owner while it owns the empty table, and every other write builds it back first.
select count(*) as indexes_present
from pg_catalog.pg_index as index_row
inner join pg_catalog.pg_class as index_class
    on index_class.oid = index_row.indexrelid
inner join pg_catalog.pg_namespace as schema_row
    on schema_row.oid = index_class.relnamespace
where
    schema_row.nspname = %(schema)s
    and index_class.relname = any(%(index_names)s::text[])
    and index_row.indisvalid
