-- Checks every existing row against a NOT VALID foreign key; takes SHARE UPDATE EXCLUSIVE on the link table and ROW SHARE on the referenced table, which block neither the application's reads nor its writes.
alter table {source}.{links} validate constraint {constraint_name}
