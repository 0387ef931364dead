-- Where the upstream's WAL stands and what a subscription's slot has confirmed (bytes since 0/0), and whether its WAL sender is attached.
select
    pg_catalog.pg_current_wal_lsn() - '0/0'::pg_lsn as wal_bytes,
    slot.confirmed_flush_lsn - '0/0'::pg_lsn as confirmed_bytes,
    slot.active
from pg_catalog.pg_replication_slots as slot
where slot.slot_name = %(slot)s
