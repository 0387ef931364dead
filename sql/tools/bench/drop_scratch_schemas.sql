-- Drops the benchmark's two scratch schemas and everything in them (seeded source tables, link tables, analytics).
drop schema if exists {analytics}, {source} cascade
