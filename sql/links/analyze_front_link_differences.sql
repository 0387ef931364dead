-- Gathers the statistics of a window's differences (pg_temp.front_link_differences), which autovacuum never reads: how many lack a stored link, how many lack a defined pair.
-- It reads at most a sample of the temporary table, a few milliseconds for a window's differences;
-- apply_front_link_differences.sql needs them to look up only the few stored links a diff changes.
analyze pg_temp.front_link_differences
