-- Runs the rest of this transaction's statements without parallel workers: for a check that follows a run, which reads the catalog and a sample of conversations, not a table.
-- Starting workers costs more than such a check's reads, even when the branch they were started for reads
-- nothing (a One-Time Filter below the Gather, as when a unique index makes the duplicate scan needless).
set local max_parallel_workers_per_gather = 0
