-- Takes the migrations' advisory lock until the end of the transaction, waiting for it at most the transaction's lock_timeout: one process migrates at a time.
select pg_advisory_xact_lock(%(key)s);
