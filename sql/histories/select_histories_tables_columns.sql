-- Lists the columns of the named tables of one schema (names bound as an array of values, so one query inspects every crew's table) with their base type, whether an index leads with the column, the table's relfilenode (its storage), and whether the current role may read the table (with the role a GRANT should name).
select
    relation.relname::text as table_name,
    relation.relfilenode::text as table_node,
    attribute.attname::text as column_name,
    coalesce(base_type.typname, col_type.typname)::text as type_name,
    exists(
        select 1
        from pg_catalog.pg_index as index_entry
        where
            index_entry.indrelid = relation.oid
            and index_entry.indkey[0] = attribute.attnum
    ) as leads_an_index,
    has_table_privilege(current_user, relation.oid, 'SELECT') as readable,
    current_user::text as role_name,
    quote_ident(namespace.nspname) || '.' || quote_ident(relation.relname) as quoted_table_name,
    -- A role that reads through convo_pipelines_writer is fixed by a GRANT to the writer (every run's
    -- role at once); any other role needs the GRANT itself.
    coalesce(
        (
            select writer.rolname::text
            from pg_catalog.pg_roles as writer
            where
                writer.rolname = 'convo_pipelines_writer'
                and pg_has_role(current_user, writer.oid, 'USAGE')
        ),
        quote_ident(current_user)
    ) as grantee
from pg_catalog.pg_class as relation
inner join pg_catalog.pg_namespace as namespace
    on namespace.oid = relation.relnamespace
inner join pg_catalog.pg_attribute as attribute
    on
        attribute.attrelid = relation.oid
        and attribute.attnum > 0
        and not attribute.attisdropped
inner join pg_catalog.pg_type as col_type
    on col_type.oid = attribute.atttypid
left join pg_catalog.pg_type as base_type
    on
        base_type.oid = col_type.typbasetype
        and col_type.typtype = 'd'
where
    namespace.nspname = %(schema)s
    and relation.relname = any(%(tables)s::text[])
    and relation.relkind in ('r', 'p', 'v', 'm', 'f')
order by relation.relname, attribute.attnum
