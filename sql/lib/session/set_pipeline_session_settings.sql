-- Sets up a pipeline session: no JIT compilation, and its own data-file writes sent to disk as it goes rather than left to the checkpoint's fsync.
-- JIT: the pipeline's statements are either short (a check that follows a run, a scoped run, a sensor tick),
-- where compiling costs far more than running, or bulk, where it gains little.
-- PostgreSQL compiles a statement whose estimated cost passes jit_above_cost, estimated over branches it
-- may never run: the orphan check that follows a first fill at 1,000,000 conversations ran in 0.14 ms
-- without JIT and 35 ms with it (93 functions emitted for a plan that read only the catalog; PostgreSQL 15).
-- The first fill's parallel DISTINCT took 24.6 s without JIT and 23.4 s with it, so the staging of a
-- link table's rows puts the server's own setting back for its transaction (set_staging_settings.sql).
set jit = off;
-- backend_flush_after (off by default on Linux): a bulk write (a first fill's CREATE TABLE AS, the removal
-- of links whose person the app deleted meanwhile) otherwise leaves hundreds of MB dirty in the kernel's
-- page cache, which the next checkpoint's fsync flushes at once while every app commit's WAL flush queues
-- behind it. Asking the kernel to write them out every 256 kB took the app's longest statement beside a
-- 1,000,000-conversation first fill from 150-222 ms to 77-101 ms (13 ms with no run going).
set backend_flush_after = '256kB'
