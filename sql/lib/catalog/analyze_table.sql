-- Gathers a table's planner statistics after a bulk write (SHARE UPDATE EXCLUSIVE: reads and row writes go on), rather than leaving the next statements planned blind until autovacuum's pass.
analyze {schema}.{table}
