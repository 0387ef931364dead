-- Selects how many rows a source table of conversations (front_conversations or conversations) holds, as the planner estimates it (pg_class.reltuples; 0 before the table was first vacuumed or analyzed): what a read of the whole source, or a whole run, is weighed against, without counting.
select greatest(class.reltuples, 0)::bigint as conversations
from pg_catalog.pg_class as class
inner join pg_catalog.pg_namespace as namespace on namespace.oid = class.relnamespace
where
    namespace.nspname = %(source_schema)s
    and class.relname = %(conversations)s
