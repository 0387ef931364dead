-- Lists the foreign keys a link table has now, by name, and whether each is validated (a first fill adds them NOT VALID, then validates).
select
    constraint_row.conname as constraint_name,
    constraint_row.convalidated as is_validated
from pg_catalog.pg_constraint as constraint_row
inner join pg_catalog.pg_class as table_row
    on table_row.oid = constraint_row.conrelid
inner join pg_catalog.pg_namespace as schema_row
    on schema_row.oid = table_row.relnamespace
where
    constraint_row.contype = 'f'
    and schema_row.nspname = %(schema)s
    and table_row.relname = %(table)s
