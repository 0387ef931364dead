-- Lists the foreign keys a link table has now: each one's name, whether it is validated (a first fill adds the project's NOT VALID, then validates them), its column and the table it references (of a single-column key).
select
    constraint_row.conname as constraint_name,
    constraint_row.convalidated as is_validated,
    (
        select key_attribute.attname::text
        from pg_catalog.pg_attribute as key_attribute
        where key_attribute.attrelid = constraint_row.conrelid and key_attribute.attnum = constraint_row.conkey[1]
    ) as column_name,
    constraint_row.confrelid::regclass::text as referenced_table
from pg_catalog.pg_constraint as constraint_row
inner join pg_catalog.pg_class as table_row
    on table_row.oid = constraint_row.conrelid
inner join pg_catalog.pg_namespace as schema_row
    on schema_row.oid = table_row.relnamespace
where
    constraint_row.contype = 'f'
    and schema_row.nspname = %(schema)s
    and table_row.relname = %(table)s
