-- Drops an index without taking a lock the app's statements wait on: a concurrent build's invalid leftover, built again after.
drop index concurrently if exists {schema}.{index_name}
