-- Drops the replication slots the bench's subscriptions left behind (a subscriber that stopped before dropping them), which would keep the upstream's WAL forever.
select pg_catalog.pg_drop_replication_slot(slot.slot_name)
from pg_catalog.pg_replication_slots as slot
where
    pg_catalog.starts_with(slot.slot_name, %(prefix)s)
    and not slot.active
