-- The oids of the named tables of one schema, so the lock monitor matches pg_locks rows by oid.
select
    class.oid,
    class.relname
from pg_class as class
inner join pg_namespace as namespace on namespace.oid = class.relnamespace
where
    namespace.nspname = %(schema)s
    and class.relname = any(%(tables)s)
