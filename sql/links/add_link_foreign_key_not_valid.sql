-- Adds one foreign key of a link table without checking the rows already there: it holds SHARE ROW EXCLUSIVE on the referenced source table only for the moment the catalog changes (under a short lock_timeout).
alter table {source}.{links}
add constraint {constraint_name} foreign key ({column})
references {source}.{referenced_table} (id) on delete {on_delete}
not valid
