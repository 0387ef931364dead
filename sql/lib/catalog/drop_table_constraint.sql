-- Drops one key or foreign key of a table before a bulk load (it is recreated from the catalog's DDL afterwards).
alter table {schema}.{table} drop constraint {object_name}
