-- Lists the columns of one table (name bound as a value) with their base type, whether an index leads with the column, and whether the current role may read the table (with the role a GRANT should name).
select
    att.attname::text as column_name,
    coalesce(base_type.typname, col_type.typname)::text as type_name,
    exists (
        select 1
        from pg_catalog.pg_index as idx
        where idx.indrelid = rel.oid
          and idx.indkey[0] = att.attnum
    ) as leads_an_index,
    has_table_privilege(current_user, rel.oid, 'SELECT') as readable,
    current_user::text as role_name,
    quote_ident(nsp.nspname) || '.' || quote_ident(rel.relname) as quoted_table_name,
    -- A role that reads through convo_pipelines_writer is fixed by a GRANT to the writer (every run's
    -- role at once); any other role needs the GRANT itself.
    coalesce(
        (
            select writer.rolname::text
            from pg_catalog.pg_roles as writer
            where writer.rolname = 'convo_pipelines_writer'
              and pg_has_role(current_user, writer.oid, 'USAGE')
        ),
        quote_ident(current_user)
    ) as grantee
from pg_catalog.pg_class as rel
join pg_catalog.pg_namespace as nsp
    on nsp.oid = rel.relnamespace
join pg_catalog.pg_attribute as att
    on att.attrelid = rel.oid
   and att.attnum > 0
   and not att.attisdropped
join pg_catalog.pg_type as col_type
    on col_type.oid = att.atttypid
left join pg_catalog.pg_type as base_type
    on base_type.oid = col_type.typbasetype
   and col_type.typtype = 'd'
where nsp.nspname = %(schema)s
  and rel.relname = %(table)s
  and rel.relkind in ('r', 'p', 'v', 'm', 'f')
order by att.attnum
