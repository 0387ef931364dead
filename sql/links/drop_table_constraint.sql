-- Drops one constraint of a link table before a bulk load (it is recreated from the catalog's DDL afterwards).
alter table {source}.{table} drop constraint {object_name}
