-- Where the server keeps its WAL files (its data directory's pg_wal), when its postmaster started (as postmaster.pid writes it: seconds since the epoch), its major version, and the end of the WAL written so far, which a commit without synchronous_commit may not have flushed to the files yet.
select
    pg_catalog.current_setting('data_directory') as data_directory,
    floor(extract(epoch from pg_catalog.pg_postmaster_start_time()))::bigint as started_epoch,
    pg_catalog.current_setting('server_version_num')::int / 10000 as major_version,
    pg_catalog.pg_current_wal_insert_lsn()::text as written_lsn
