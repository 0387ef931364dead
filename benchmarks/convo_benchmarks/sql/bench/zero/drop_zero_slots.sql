-- Drops this database's inactive replication slots named with prefix (zero-cache's, once it has stopped), which would keep the database from being dropped.
select pg_catalog.pg_drop_replication_slot(slot.slot_name)
from pg_catalog.pg_replication_slots as slot
where
    slot.database = pg_catalog.current_database()
    and pg_catalog.starts_with(slot.slot_name, %(prefix)s)
    and not slot.active;
