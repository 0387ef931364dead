-- Holds the link table against VACUUM and ANALYZE for the rest of the transaction, in the mode they take themselves (SHARE UPDATE EXCLUSIVE), which none of the application's reads or writes conflicts with: queueing for it blocks no one.
-- Right after a first fill, an autovacuum of the new rows holds this mode for minutes. PostgreSQL cancels an
-- autovacuum that keeps a waiter waiting past deadlock_timeout (set_lock_timeout_past_deadlock_timeout.sql),
-- so a foreign key's statements, which conflict with it, then get their turn.
lock table {source}.{links} in share update exclusive mode
