-- The orphan check's results without a scan (trust_constraints): one row per side (owner, Front conversation) that a validated foreign key rules orphans out of, as check_front_links_orphans.sql gives it; a side without one gives no row. The run that writes the table reads them (select_front_link_guarantees.sql) and records them for the check that follows; without both rows that check scans.
with guaranteeing_keys as (
    {guaranteeing_keys}
)

select
    side.problem,
    0::bigint as violations,
    '[]'::jsonb as samples,
    'foreign key ' || side_key.constraint_name as verified_by
from (
    values
        ('missing_' || %(owner_kind)s::text, %(owner_column_name)s::text, %(owner_table_name)s::text, 1),
        ('missing_front_conversation', 'front_conversation_id', 'front_conversations', 2)
) as side (problem, column_name, referenced_table, position)
cross join lateral (
    select gk.constraint_name
    from guaranteeing_keys as gk
    where gk.column_name = side.column_name and gk.referenced_table = side.referenced_table
    limit 1
) as side_key
order by side.position
