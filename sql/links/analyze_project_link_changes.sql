-- Gathers statistics of a whole reconcile's changes (pg_temp.project_link_changes), which autovacuum never analyzes: the statements that apply them then probe the table's keys for a few changes, and join it whole only for many.
analyze pg_temp.project_link_changes
