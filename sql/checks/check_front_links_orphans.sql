-- Finds links of a Front link table whose owner (person or client) or Front conversation does not exist, within the checked scope: one row per problem with its count and up to sample_limit samples.
-- Scope: both bounds null = the whole table; otherwise links of conversations created in
-- [window_start, window_end), a null bound meaning no bound on that side. A window reaches links through their (existing) conversations, so a
-- link whose conversation is gone is only found by a whole-table check.
-- Two exclusive branches rather than one OR, so that a window reaches its links through the
-- created_at and front_conversation_id indexes instead of a scan of the whole link table.
with scoped_links as (
    select
        l.{owner_column},
        l.front_conversation_id
    from {source}.{link_table} as l
    where %(window_start)s::timestamptz is null and %(window_end)s::timestamptz is null
    union all
    select
        l.{owner_column},
        l.front_conversation_id
    from {source}.front_conversations as fc
    inner join {source}.{link_table} as l on l.front_conversation_id = fc.id
    where
        (%(window_start)s::timestamptz is not null or %(window_end)s::timestamptz is not null)
        and (%(window_start)s::timestamptz is null or fc.created_at >= %(window_start)s::timestamptz)
        and (%(window_end)s::timestamptz is null or fc.created_at < %(window_end)s::timestamptz)
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
