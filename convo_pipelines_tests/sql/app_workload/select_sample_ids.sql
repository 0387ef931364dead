-- Up to `samples` random ids of one source table for the app workload, reading about ten times as many rows' pages (tablesample) rather than the whole table.
-- A subquery as the tablesample percentage is beyond sqlfluff's grammar.
select sampled.id
from {source}.{table} as sampled tablesample system (( -- noqa: PRS
    select least(100, 1000.0 * %(samples)s / greatest(class.reltuples, 1))::real
    from pg_class as class
    inner join pg_namespace as namespace on namespace.oid = class.relnamespace
    where
        namespace.nspname = %(schema)s
        and class.relname = %(table_name)s
))
order by random()
limit %(samples)s
