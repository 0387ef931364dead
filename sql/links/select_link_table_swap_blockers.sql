-- Names what keeps a never-filled link table from being replaced by freshly built storage: what the swap would lose (foreign keys, the app's triggers, policies, views on it), or no CREATE privilege on its schema to build that storage in.
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
    select 'no CREATE privilege on schema ' || %(schema)s
    where not has_schema_privilege(%(schema)s, 'CREATE')
) as blockers
