-- Finds (owner, Front conversation) pairs stored more than once in a Front link table, within the checked scope: one row with the count and up to sample_limit samples.
-- Scope: both bounds null = the whole table; otherwise links of conversations created in
-- [window_start, window_end), a null bound meaning no bound on that side.
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

duplicates as (
    select
        sl.{owner_column},
        sl.front_conversation_id,
        count(*) as copies
    from scoped_links as sl
    group by sl.{owner_column}, sl.front_conversation_id
    having count(*) > 1
)

select
    'duplicate_pairs' as problem,
    (select count(*) from duplicates) as violations,
    (
        select coalesce(jsonb_agg(to_jsonb(s) order by s.{owner_column}, s.front_conversation_id), '[]'::jsonb)
        from (select * from duplicates order by 1, 2 limit %(sample_limit)s) as s
    ) as samples;
