-- Drops the contender materialized view of one link join.
drop materialized view if exists {source}.{view}
