-- Takes a transaction-level advisory lock on one crew, so two runs (a tick and a backfill) never merge the same crew at once.
select pg_advisory_xact_lock(hashtextextended(%(crew_lock_key)s, 0))
