-- The server's wal_level: a logical subscriber needs `logical`.
select pg_catalog.current_setting('wal_level')
