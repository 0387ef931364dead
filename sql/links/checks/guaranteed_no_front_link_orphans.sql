-- The orphan check's results without a scan (trust_constraints): one row per side (owner, Front conversation) that a validated foreign key rules orphans out of, as check_front_links_orphans.sql gives it; a side without one gives no row. The run that writes the table reads them (select_front_link_guarantees.sql) and records them for the check that follows; without both rows that check scans.
with guaranteeing_keys as (
    {guaranteeing_keys}
)

select
    side.problem,
    0::bigint as violations,
    '[]'::jsonb as samples,
    'foreign key ' || side.constraint_name as verified_by
from (
    select
        1 as position,
        'missing_' || %(owner_kind)s::text as problem,
        (
            select min(gk.constraint_name) from guaranteeing_keys as gk
            where gk.column_name = %(owner_column_name)s::text and gk.referenced_table = %(owner_table_name)s::text
        ) as constraint_name
    union all
    select
        2,
        'missing_front_conversation',
        (
            select min(gk.constraint_name) from guaranteeing_keys as gk
            where gk.column_name = 'front_conversation_id' and gk.referenced_table = 'front_conversations'
        )
) as side
where side.constraint_name is not null
order by side.position
