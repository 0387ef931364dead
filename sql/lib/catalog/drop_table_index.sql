-- Drops one standalone index of a table before a bulk load (it is recreated from the catalog's DDL afterwards).
drop index {schema}.{object_name}
