-- Recomputes the contender materialized view without blocking its readers, as the discovery design once proposed.
refresh materialized view concurrently {source}.{view}
