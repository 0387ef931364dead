-- Counts the replication slots named with prefix that are still on this database (zero-cache's, active or not).
select count(*) as slots
from pg_catalog.pg_replication_slots as slot
where
    slot.database = pg_catalog.current_database()
    and pg_catalog.starts_with(slot.slot_name, %(prefix)s);
