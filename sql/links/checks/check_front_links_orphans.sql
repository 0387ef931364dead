-- Finds links of a Front link table whose owner (person or client) or Front conversation does not exist, within the checked scope: one row per problem with its count and up to sample_limit samples.
-- The scope is that of select_scoped_front_links.sql, embedded as scoped_links.
with scoped_links as (
    {scoped_links}
),

missing_owner as (
    select sl.{owner_column}, sl.front_conversation_id
    from scoped_links as sl
    where not exists (select from {source}.{owner_table} as o where o.id = sl.{owner_column})
),

missing_conversation as (
    select sl.{owner_column}, sl.front_conversation_id
    from scoped_links as sl
    where not exists (select from {source}.front_conversations as fc where fc.id = sl.front_conversation_id)
)

select
    'missing_' || %(owner_kind)s::text as problem,
    (select count(*) from missing_owner) as violations,
    (
        select coalesce(jsonb_agg(to_jsonb(s) order by s.{owner_column}, s.front_conversation_id), '[]'::jsonb)
        from (select * from missing_owner order by 1, 2 limit %(sample_limit)s) as s
    ) as samples
union all
select
    'missing_front_conversation',
    (select count(*) from missing_conversation),
    (
        select coalesce(jsonb_agg(to_jsonb(s) order by s.{owner_column}, s.front_conversation_id), '[]'::jsonb)
        from (select * from missing_conversation order by 1, 2 limit %(sample_limit)s) as s
    );
