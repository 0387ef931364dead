-- Up to `samples` random contact methods that belong to a person, the ones the app workload adds as message recipients.
-- A subquery as the tablesample percentage is beyond sqlfluff's grammar.
select sampled.id
from {source}.contact_methods as sampled tablesample system (( -- noqa: PRS
    select least(100, 1000.0 * %(samples)s / greatest(class.reltuples, 1))::real
    from pg_class as class
    inner join pg_namespace as namespace on namespace.oid = class.relnamespace
    where
        namespace.nspname = %(schema)s
        and class.relname = 'contact_methods'
))
where sampled.person_id is not null
order by random()
limit %(samples)s
