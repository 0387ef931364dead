-- Drops the table a contender dbt model built, with its indexes.
drop table if exists {source}.{model}
