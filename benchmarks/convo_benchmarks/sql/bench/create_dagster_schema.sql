-- Dagster's storage of the benchmark's runs (dagster-postgres creates its tables in it, by search_path).
create schema if not exists {dagster}
