-- Gives the rest of this transaction's parallel reads of a window's definition (a staging CREATE TABLE AS of its pairs, or a window's diff: select_front_link_differences.sql; or of the whole project_conversations' changes: select_project_link_changes.sql) memory for its hashes and sorts, parallel workers the planner does not price out, and the server's own JIT setting.
-- At the default price of 0.1 per row passed from a worker to the leader, or with random reads priced
-- as cheaply as set_diff_settings.sql prices them, the planner keeps a staging's DISTINCT of millions of
-- pairs in one process, nearly twice as slow as with these settings. A small window still walks the indexes at
-- the server's own price of random reads.
-- A hash that outgrows its memory spills to disk in batches, as a sort would.
-- JIT, off in the pipeline's sessions for their short statements, is the server's own setting again here.
set local work_mem = '256MB';
set local parallel_tuple_cost = 0.01;
set local random_page_cost to default;
set local jit to default
