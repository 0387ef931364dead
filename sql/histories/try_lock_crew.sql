-- Takes the crew's advisory lock (the key of lock_crew.sql) when no other transaction holds it, without waiting: true when taken.
select pg_try_advisory_xact_lock(hashtextextended(%(crew_lock_key)s, 0)) as locked
