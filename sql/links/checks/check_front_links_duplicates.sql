-- Finds (owner, Front conversation) pairs stored more than once in a Front link table, within the checked scope: one row with the count and up to sample_limit samples.
-- The scope is that of select_scoped_front_links.sql, embedded as scoped_links.
with scoped_links as (
    {scoped_links}
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
