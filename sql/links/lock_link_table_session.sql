-- Takes, until released or the connection ends, the advisory lock every writer of one link table takes (a first fill spans several transactions).
select pg_advisory_lock(%(lock_class)s, hashtext(%(table)s))
