-- Takes the transaction-level advisory lock that serializes every writer of one link table.
select pg_advisory_xact_lock(%(lock_class)s, hashtext(%(table)s))
