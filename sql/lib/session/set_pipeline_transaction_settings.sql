-- Sets up a pipeline transaction: no JIT compilation, and its own data-file writes sent to disk as it goes rather than left to the checkpoint's fsync; both end with the transaction, so nothing stays on a pooled server connection.
-- JIT: the pipeline's statements are either short (a check that follows a run, a scoped run, a sensor tick),
-- where compiling costs far more than running, or bulk, where it gains little. PostgreSQL compiles a
-- statement whose estimated cost passes jit_above_cost, estimated over branches it may never run, such as
-- a check's plan that reads only the catalog. The staging of a link table's rows puts the server's own
-- setting back for its transaction (set_staging_settings.sql).
set local jit = off;
-- backend_flush_after (off by default on Linux): a bulk write otherwise leaves hundreds of MB dirty in the
-- kernel's page cache, which the next checkpoint's fsync flushes at once while every app commit's WAL
-- flush queues behind it.
set local backend_flush_after = '256kB'
