-- The oid of a first fill's staged pairs, what their table's comment says of them (describe_front_link_first_fill.sql), and whether this role may write that comment (it has the privileges of the table's owner), or nulls: the table exists while the fill that staged it owns the link table's windows, until any other writer drops it (drop_front_link_first_fill.sql); a fill staged later gets another oid, which tells an earlier fill its hold ended.
-- Another writer's login role, a member of the role owning the analytics schema but not of the table's owner,
-- may drop the table but neither read nor comment on it: such a run takes the table over rather than go on.
with staged as (
    select to_regclass(format('%%I.%%I', %(schema)s::text, %(first_fill)s::text))::oid as oid
)

select
    staged.oid as staged,
    obj_description(staged.oid, 'pg_class') as description,
    pg_has_role(staged_table.relowner, 'USAGE') as may_hold
from staged
left join pg_catalog.pg_class as staged_table on staged_table.oid = staged.oid
