-- Lists a table's validated single-column foreign keys to a source table's id whose triggers fire for the app's ordinary writes, when trust_constraints is true: (constraint_name, column_name, referenced_table in the source schema). Each is PostgreSQL's own guarantee that the column's rows exist: an orphan check of a link table need not scan that side, and a bulk run's definition need not join a source table to check it (ProvenJoin).
-- A writer with session_replication_role = replica bypasses foreign keys: a check run on its own trusts none.
-- A key's triggers disabled, or enabled for replicas only (ENABLE REPLICA TRIGGER), enforce nothing for the
-- app's own writes; a key to another unique column of the referenced table says nothing of its ids.
-- Scalar subqueries rather than joins: a check that follows a run plans this on every call, and planning
-- the five-way catalog join costs several times what these subqueries cost, most on a session's first use.
with foreign_keys as (
    select
        constraint_row.conname::text as constraint_name,
        (
            select key_attribute.attname::text
            from pg_catalog.pg_attribute as key_attribute
            where key_attribute.attrelid = constraint_row.conrelid and key_attribute.attnum = constraint_row.conkey[1]
        ) as column_name,
        (
            select referenced.relname::text
            from pg_catalog.pg_class as referenced
            where
                referenced.oid = constraint_row.confrelid
                and referenced.relnamespace = to_regnamespace(%(source_schema)s::text)
        ) as referenced_table,
        (
            select referenced_attribute.attname::text
            from pg_catalog.pg_attribute as referenced_attribute
            where
                referenced_attribute.attrelid = constraint_row.confrelid
                and referenced_attribute.attnum = constraint_row.confkey[1]
        ) as referenced_column
    from pg_catalog.pg_constraint as constraint_row
    where
        %(trust_constraints)s::boolean
        and constraint_row.conrelid = to_regclass(format('%%I.%%I', %(source_schema)s::text, %(link_table_name)s::text))
        and constraint_row.contype = 'f'
        and constraint_row.convalidated
        and cardinality(constraint_row.conkey) = 1
        and not exists (
            select from pg_catalog.pg_trigger as trigger_row
            where trigger_row.tgconstraint = constraint_row.oid and trigger_row.tgenabled not in ('O', 'A')
        )
)

select
    key_row.constraint_name,
    key_row.column_name,
    key_row.referenced_table
from foreign_keys as key_row
-- A key to a table of another schema has no referenced_table here.
where
    key_row.referenced_table is not null
    and key_row.referenced_column = 'id'
