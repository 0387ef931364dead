-- Where the server's WAL stands (bytes since its start) and how many checkpoints were requested so far (by WAL volume reaching max_wal_size, or by command): read before and after a run, the WAL the run wrote and the checkpoints it forced. {view}.{counter} is the counter's home: pg_stat_checkpointer.num_requested from PostgreSQL 17 on, pg_stat_bgwriter.checkpoints_req before.
select
    pg_catalog.pg_current_wal_lsn() - '0/0'::pg_lsn as wal_bytes,
    (select {counter} from pg_catalog.{view}) as checkpoints_requested
