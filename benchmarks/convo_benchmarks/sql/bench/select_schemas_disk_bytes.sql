-- Bytes on disk of every table and materialized view of the named schemas: heap, indexes and TOAST.
select coalesce(sum(pg_total_relation_size(relation.oid)), 0)::bigint as disk_bytes
from pg_catalog.pg_class as relation
inner join pg_catalog.pg_namespace as namespace
    on namespace.oid = relation.relnamespace
where
    namespace.nspname = any(%(schemas)s)
    and relation.relkind in ('r', 'm', 'p')
