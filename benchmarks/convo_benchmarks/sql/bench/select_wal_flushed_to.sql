-- Whether the server has flushed its WAL to the files up to %(lsn)s, where pg_waldump can read it (the WAL writer flushes what asynchronous commits leave within wal_writer_delay).
select pg_catalog.pg_current_wal_flush_lsn() >= %(lsn)s::pg_lsn as flushed
