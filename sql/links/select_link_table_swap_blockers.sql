-- Names what keeps a never-filled link table from being replaced by freshly built storage: what the swap would lose or break (its foreign keys, the app's triggers, policies, views, foreign keys pointing at it, column grants, publications, row security, storage options, replica identity), or no CREATE privilege on its schema.
select blocker
from (
    select 'foreign key ' || constraint_row.conname as blocker
    from pg_catalog.pg_constraint as constraint_row
    where constraint_row.conrelid = %(qualified_table)s::regclass
      and constraint_row.contype = 'f'
    union all
    select 'trigger ' || trigger_row.tgname
    from pg_catalog.pg_trigger as trigger_row
    where trigger_row.tgrelid = %(qualified_table)s::regclass
      and not trigger_row.tgisinternal
    union all
    select 'policy ' || policy_row.polname
    from pg_catalog.pg_policy as policy_row
    where policy_row.polrelid = %(qualified_table)s::regclass
    union all
    select distinct 'dependent ' || pg_catalog.pg_describe_object(dependency.classid, dependency.objid, 0)
    from pg_catalog.pg_depend as dependency
    where dependency.refclassid = 'pg_catalog.pg_class'::regclass
      and dependency.refobjid = %(qualified_table)s::regclass
      and dependency.classid = 'pg_catalog.pg_rewrite'::regclass
    union all
    select 'foreign key ' || constraint_row.conname || ' of ' || constraint_row.conrelid::regclass::text || ' pointing at it'
    from pg_catalog.pg_constraint as constraint_row
    where constraint_row.confrelid = %(qualified_table)s::regclass
      and constraint_row.contype = 'f'
    union all
    select distinct 'column privileges on ' || column_row.attname
    from pg_catalog.pg_attribute as column_row
    where column_row.attrelid = %(qualified_table)s::regclass
      and column_row.attacl is not null
    union all
    select 'publication ' || publication.pubname
    from pg_catalog.pg_publication as publication
    where publication.puballtables
       or exists (
           select 1 from pg_catalog.pg_publication_rel as published
           where published.prpubid = publication.oid and published.prrelid = %(qualified_table)s::regclass
       )
    union all
    select 'row-level security, storage options or replica identity set on it'
    from pg_catalog.pg_class as table_row
    where table_row.oid = %(qualified_table)s::regclass
      and (table_row.relrowsecurity or table_row.reloptions is not null or table_row.relreplident <> 'd')
    union all
    select 'no CREATE privilege on schema ' || %(schema)s
    where not has_schema_privilege(%(schema)s, 'CREATE')
) as blockers
