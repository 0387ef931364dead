-- Names what would be lost or refused if a never-filled link table were replaced by freshly built storage: foreign keys, the app's triggers, rules, policies, and views or other objects that depend on it.
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
) as blockers
