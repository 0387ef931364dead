-- Selects where a diff starts, before it reads anything: the database's now() and a snapshot no older than the one its statements read (the set of transactions committed by then), against which a later batch tells the app's writes since.
select
    now() as diffed_at,
    pg_current_snapshot()::text as diff_snapshot
