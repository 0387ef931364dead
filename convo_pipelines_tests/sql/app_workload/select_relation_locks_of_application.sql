-- The relation locks that backends of one application hold or await on the given tables of this database.
select
    held.relation,
    held.mode,
    held.granted,
    held.pid
from pg_locks as held
inner join pg_stat_activity as backend on backend.pid = held.pid
where
    held.locktype = 'relation'
    and held.relation = any(%(relations)s::oid[])
    and backend.datname = current_database()
    and backend.application_name = %(application_name)s
