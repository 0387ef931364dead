-- Releases the session-level advisory lock of one link table.
select pg_advisory_unlock(%(lock_class)s, hashtext(%(table)s))
