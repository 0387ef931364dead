-- Turns off JIT compilation for the pipeline's session: its statements are either short (a check that follows a run, a scoped run, a sensor tick), where compiling costs far more than running, or bulk, where it gains little.
-- PostgreSQL compiles a statement whose estimated cost passes jit_above_cost, estimated over branches it
-- may never run: the orphan check that follows a first fill at 1,000,000 conversations ran in 0.14 ms
-- without JIT and 35 ms with it (93 functions emitted for a plan that read only the catalog; PostgreSQL 15).
-- The first fill's parallel DISTINCT took 24.6 s without JIT and 23.4 s with it, so the staging of a
-- link table's rows puts the server's own setting back for its transaction (set_staging_settings.sql).
set jit = off
