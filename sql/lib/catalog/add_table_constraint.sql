-- Recreates one key or foreign key of a table from the definition the catalog gave before the bulk load; a foreign key is validated by one anti-join over the table.
alter table {schema}.{table} add constraint {object_name} {definition}
