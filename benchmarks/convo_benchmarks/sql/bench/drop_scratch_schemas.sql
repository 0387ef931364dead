-- Drops the benchmark's scratch schemas and everything in them (seeded source tables, link tables, analytics,
-- Dagster's storage of its runs).
-- PostgreSQL drops several schemas in one statement, sqlfluff's grammar only one.
drop schema if exists {dagster}, {analytics}, {source} cascade -- noqa: PRS
