-- Holds the server's WAL for this session (a temporary physical replication slot, reserved at once from the last checkpoint on, gone when the session ends), so that the WAL a measured step writes is still on disk when pg_waldump reads it, whatever checkpoints happen meanwhile; returns where the WAL written from now on starts.
select pg_catalog.pg_current_wal_insert_lsn()::text as start_lsn
from pg_catalog.pg_create_physical_replication_slot(%(slot)s, true, true)
