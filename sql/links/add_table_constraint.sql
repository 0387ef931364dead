-- Recreates one constraint of a link table from the definition the catalog gave before the bulk load; a foreign key is validated by one anti-join over the table.
alter table {source}.{table} add constraint {object_name} {definition}
