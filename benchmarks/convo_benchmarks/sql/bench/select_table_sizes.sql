-- Heap and index sizes, in bytes, of the named tables of one schema.
select
    relation.relname as table_name,
    pg_table_size(relation.oid) as table_bytes,
    pg_indexes_size(relation.oid) as index_bytes
from pg_catalog.pg_class as relation
inner join pg_catalog.pg_namespace as namespace
    on namespace.oid = relation.relnamespace
where
    namespace.nspname = %(schema)s
    and relation.relname = any(%(tables)s)
order by relation.relname
