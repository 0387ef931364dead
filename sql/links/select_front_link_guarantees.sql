-- The duplicate and orphan problems of a Front link table that its enforced constraints rule out now, one row each as check_front_links_duplicates.sql and check_front_links_orphans.sql give it (problem, 0 violations, no samples, the constraint): duplicate_pairs when a valid unique index covers exactly the pair, each side (owner, Front conversation) a validated foreign key covers. A problem no constraint rules out gives no row.
-- Read by the run that wrote the table, once its writes and foreign keys are done, and recorded in its
-- materialization: the duplicate and orphan checks that follow it report these rows, and scan for a
-- problem that has none.
with guaranteeing_keys as (
    {guaranteeing_keys}
),

guaranteeing_index as (
    {guaranteeing_index}
),

-- One row per side of a pair (owner, Front conversation) with the validated foreign key that covers it, if any.
sides as (
    select
        'missing_' || %(owner_kind)s::text as problem,
        (
            select min(guaranteeing_key.constraint_name) from guaranteeing_keys as guaranteeing_key
            where
                guaranteeing_key.column_name = %(owner_column_name)s::text
                and guaranteeing_key.referenced_table = %(owner_table_name)s::text
        ) as constraint_name
    union all
    select
        'missing_front_conversation' as problem,
        (
            select min(guaranteeing_key.constraint_name) from guaranteeing_keys as guaranteeing_key
            where
                guaranteeing_key.column_name = 'front_conversation_id'
                and guaranteeing_key.referenced_table = 'front_conversations'
        ) as constraint_name
)

select
    'duplicate_pairs' as problem,
    0::bigint as violations,
    '[]'::jsonb as samples,
    'unique index ' || unique_index.index_name as verified_by
from guaranteeing_index as unique_index
union all
select
    side.problem,
    0::bigint as violations,
    '[]'::jsonb as samples,
    'foreign key ' || side.constraint_name as verified_by
from sides as side
where side.constraint_name is not null
