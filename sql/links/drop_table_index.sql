-- Drops one standalone index of a link table before a bulk load (it is recreated from the catalog's DDL afterwards).
drop index {source}.{object_name}
