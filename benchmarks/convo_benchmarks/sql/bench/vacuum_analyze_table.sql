-- Vacuums and analyzes one table, as autovacuum does soon after a bulk load (it sets the visibility map that index-only scans need).
vacuum (analyze) {schema}.{table}
