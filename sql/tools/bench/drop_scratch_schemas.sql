-- Drops the benchmark's scratch schemas and everything in them (seeded source tables, link tables, analytics,
-- Dagster's storage of its runs).
drop schema if exists {dagster}, {analytics}, {source} cascade
