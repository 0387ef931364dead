-- Selects how many times the source tables a look reads (watched_tables: heap, indexes and TOAST) outweigh the server's cache as effective_cache_size tells it, at least 1: the planner's own measure of how much of them stays in memory.
-- A look streams those tables, while a conversation diffed again probes their indexes page by page: the more
-- they outgrow the cache, the more of those probes read their page in.
select
    greatest(
        coalesce(sum(pg_catalog.pg_total_relation_size(class.oid)), 0)::float8
        / pg_catalog.pg_size_bytes(pg_catalog.current_setting('effective_cache_size'))::float8,
        1
    ) as caches
from pg_catalog.pg_class as class
inner join pg_catalog.pg_namespace as namespace on namespace.oid = class.relnamespace
where
    namespace.nspname = %(source_schema)s
    and class.relname = any(%(watched_tables)s::text[])
    and class.relkind in ('r', 'p')
