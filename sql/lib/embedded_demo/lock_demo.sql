-- Takes the demo's advisory lock until the end of the transaction: one process migrates and seeds the demo at a time.
select pg_advisory_xact_lock(hashtextextended('convo_pipelines.demo', 0));
