-- Compares a Front link table with its definition, the pairs the source defines, for conversations created in the checked scope: missing and extra (owner, Front conversation, conversation created_at) rows (a stale created_at copy is one of each) with counts and up to sample_limit samples each.
-- Scope: conversations created in [window_start, window_end), either bound null meaning unbounded.
-- The definition is bound in as a select_expected_*_links.sql file: it reads scoped_conversations
-- and returns (owner, front_conversation_id, front_conversation_created_at) rows, the owner column named as in the link table.
-- not materialized: each use is planned with the window's own row estimate and indexes
with scoped_conversations as not materialized (
    select fc.id, fc.created_at
    from {source}.front_conversations as fc
    where
        (%(window_start)s::timestamptz is null or fc.created_at >= %(window_start)s::timestamptz)
        and (%(window_end)s::timestamptz is null or fc.created_at < %(window_end)s::timestamptz)
),

expected as (
    {expected}
),

stored as (
    select
        l.{owner_column},
        l.front_conversation_id,
        l.front_conversation_created_at
    from scoped_conversations as sc
    inner join {source}.{link_table} as l on l.front_conversation_id = sc.id
),

missing as (
    select e.{owner_column}, e.front_conversation_id, e.front_conversation_created_at from expected as e
    except
    select s.{owner_column}, s.front_conversation_id, s.front_conversation_created_at from stored as s
),

extra as (
    select s.{owner_column}, s.front_conversation_id, s.front_conversation_created_at from stored as s
    except
    select e.{owner_column}, e.front_conversation_id, e.front_conversation_created_at from expected as e
)

select
    'missing' as problem,
    (select count(*) from missing) as violations,
    (
        select coalesce(jsonb_agg(to_jsonb(s) order by s.{owner_column}, s.front_conversation_id), '[]'::jsonb)
        from (select * from missing order by 1, 2 limit %(sample_limit)s) as s
    ) as samples
union all
select
    'extra',
    (select count(*) from extra),
    (
        select coalesce(jsonb_agg(to_jsonb(s) order by s.{owner_column}, s.front_conversation_id), '[]'::jsonb)
        from (select * from extra order by 1, 2 limit %(sample_limit)s) as s
    );
