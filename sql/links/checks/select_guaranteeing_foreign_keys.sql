-- Lists a table's validated single-column foreign keys to a source table's id whose triggers fire for the app's ordinary writes, when trust_constraints is true: (constraint_name, column_name, referenced_table in the source schema, referenced_column). Each is PostgreSQL's own guarantee that the column's rows exist: an orphan check of a link table need not scan that side, and a bulk run's oracle need not join a source table to check it (ProvenJoin).
-- A writer with session_replication_role = replica bypasses foreign keys: a check run on its own trusts none.
-- A key's triggers disabled, or enabled for replicas only (ENABLE REPLICA TRIGGER), enforce nothing for the
-- app's own writes; a key to another unique column of the referenced table says nothing of its ids.
select
    constraint_row.conname::text as constraint_name,
    key_attribute.attname::text as column_name,
    referenced.relname::text as referenced_table,
    referenced_attribute.attname::text as referenced_column
from pg_catalog.pg_constraint as constraint_row
inner join pg_catalog.pg_attribute as key_attribute
    on key_attribute.attrelid = constraint_row.conrelid
   and key_attribute.attnum = constraint_row.conkey[1]
inner join pg_catalog.pg_attribute as referenced_attribute
    on referenced_attribute.attrelid = constraint_row.confrelid
   and referenced_attribute.attnum = constraint_row.confkey[1]
inner join pg_catalog.pg_class as referenced on referenced.oid = constraint_row.confrelid
inner join pg_catalog.pg_namespace as referenced_schema on referenced_schema.oid = referenced.relnamespace
where %(trust_constraints)s::boolean
  and constraint_row.conrelid = to_regclass(format('%%I.%%I', %(source_schema)s::text, %(link_table_name)s::text))
  and constraint_row.contype = 'f'
  and constraint_row.convalidated
  and cardinality(constraint_row.conkey) = 1
  and referenced_schema.nspname = %(source_schema)s::text
  and referenced_attribute.attname = 'id'
  and not exists (
      select from pg_catalog.pg_trigger as trigger_row
      where trigger_row.tgconstraint = constraint_row.oid and trigger_row.tgenabled not in ('O', 'A')
  )
