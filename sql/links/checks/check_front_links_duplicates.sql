-- Finds (owner, Front conversation) pairs stored more than once in a Front link table, within the checked scope: one row with the count, up to sample_limit samples, and the unique index that made a scan needless.
-- The scope is that of select_scoped_front_links.sql, embedded as scoped_links. When trust_constraints is
-- true (the check that follows a run) and a valid unique index covers exactly the pair, PostgreSQL already
-- guarantees there is no duplicate and nothing is scanned; a check run on its own always scans.
with guaranteeing_index as (
    {guaranteeing_index}
),

scoped_links as (
    {scoped_links}
),

duplicates as (
    select
        sl.{owner_column},
        sl.front_conversation_id,
        count(*) as copies
    from scoped_links as sl
    where not exists (select from guaranteeing_index)
    group by sl.{owner_column}, sl.front_conversation_id
    having count(*) > 1
)

select
    'duplicate_pairs' as problem,
    (select count(*) from duplicates) as violations,
    (
        select coalesce(jsonb_agg(to_jsonb(s) order by s.{owner_column}, s.front_conversation_id), '[]'::jsonb)
        from (select * from duplicates order by 1, 2 limit %(sample_limit)s) as s
    ) as samples,
    (select 'unique index ' || gi.index_name from guaranteeing_index as gi) as verified_by;
