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
        scoped_link.{owner_column},
        scoped_link.front_conversation_id,
        count(*) as copies
    from scoped_links as scoped_link
    where not exists (select from guaranteeing_index)
    group by scoped_link.{owner_column}, scoped_link.front_conversation_id
    having count(*) > 1
)

select
    'duplicate_pairs' as problem,
    (select count(*) from duplicates) as violations,
    (
        select
            coalesce(
                jsonb_agg(to_jsonb(sample) order by sample.{owner_column}, sample.front_conversation_id), '[]'::jsonb
            )
        from (select * from duplicates order by 1, 2 limit %(sample_limit)s) as sample
    ) as samples,
    (select 'unique index ' || unique_index.index_name from guaranteeing_index as unique_index) as verified_by;
