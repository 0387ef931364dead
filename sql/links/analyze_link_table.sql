-- Refreshes the planner statistics of a link table after a bulk load.
analyze {source}.{table}
