-- Takes the migrations' advisory lock until the end of the transaction: one process migrates at a time.
select pg_advisory_xact_lock(%(key)s);
