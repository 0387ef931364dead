-- Lets go of the WAL this session held (reserve_wal_from_now.sql) at once: a temporary slot also goes when its
-- session ends, but the server ends a closed session's backend a moment after the client has left.
select pg_catalog.pg_drop_replication_slot(%(slot)s)
