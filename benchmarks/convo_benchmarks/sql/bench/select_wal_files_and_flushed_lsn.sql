-- Where the server keeps its WAL files (its data directory's pg_wal), when its postmaster started (as postmaster.pid writes it: seconds since the epoch), its major version, and the WAL flushed so far: the end of a range pg_waldump can read whole.
select
    pg_catalog.current_setting('data_directory') as data_directory,
    floor(extract(epoch from pg_catalog.pg_postmaster_start_time()))::bigint as started_epoch,
    pg_catalog.current_setting('server_version_num')::int / 10000 as major_version,
    pg_catalog.pg_current_wal_flush_lsn()::text as flushed_lsn
