-- Compares a Front link table with its definition, the pairs the source defines, for conversations created in the checked scope: missing and extra (owner, Front conversation, conversation created_at) rows (a stale created_at copy is one of each) with counts and up to sample_limit samples each.
-- Scope: the conversations of the embedded scoped_conversations (every one created in the window, or a sample of
-- them: scope_*_front_conversations.sql); differences in conversations the app changed since changed_since
-- (null: none left out) are left out as the app moving on.
-- The definition is bound in as a select_expected_*_links.sql file: it reads scoped_conversations
-- and returns (owner, front_conversation_id, front_conversation_created_at) rows, the owner column named as in the link table.
with {scoped_conversations},

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

missing_now as (
    select e.{owner_column}, e.front_conversation_id, e.front_conversation_created_at from expected as e
    except
    select s.{owner_column}, s.front_conversation_id, s.front_conversation_created_at from stored as s
),

extra_now as (
    select s.{owner_column}, s.front_conversation_id, s.front_conversation_created_at from stored as s
    except
    select e.{owner_column}, e.front_conversation_id, e.front_conversation_created_at from expected as e
),

-- A difference in a conversation whose source rows the application changed since changed_since (the
-- run's start) is the app moving on after the run's snapshot,
-- not an error: the next run picks it up. Only the differing conversations are looked at, so this
-- costs nothing when the table is exact. Rows the app hard-deleted leave no trace and still count.
-- A stamp later than this statement is no change made since the run started but a skewed clock: it
-- excuses nothing, or one such row would hide its conversations' differences for as long as it stays ahead.
unsettled as (
    select differing.front_conversation_id
    from (
        select front_conversation_id from missing_now
        union
        select front_conversation_id from extra_now
    ) as differing
    -- A lateral probe per differing conversation, stopping at its first changed row: written as two
    -- EXISTS under an OR, PostgreSQL may plan them as hashed subplans, which build a hash of every
    -- recipient's conversation once the app has changed one sampled conversation (30 s at 1,000,000
    -- conversations, beside the app's writes), where this reads a few index entries per conversation.
    cross join lateral (
        select 1
        from {source}.front_conversations as fc
        where fc.id = differing.front_conversation_id
          and (
              fc.created_at between %(changed_since)s::timestamptz and statement_timestamp()
              or fc.updated_at between %(changed_since)s::timestamptz and statement_timestamp()
          )
        union all
        select 1
        from {source}.front_messages as fm
        inner join {source}.front_message_recipients as fmr on fmr.front_message_id = fm.id
        left join {source}.contact_methods as cm on cm.id = fmr.contact_method_id
        left join {source}.people as p on p.id = cm.person_id
        where fm.front_conversation_id = differing.front_conversation_id
          and (
              fm.created_at between %(changed_since)s::timestamptz and statement_timestamp()
              or fm.updated_at between %(changed_since)s::timestamptz and statement_timestamp()
              or fmr.created_at between %(changed_since)s::timestamptz and statement_timestamp()
              or fmr.updated_at between %(changed_since)s::timestamptz and statement_timestamp()
              or cm.created_at between %(changed_since)s::timestamptz and statement_timestamp()
              or cm.updated_at between %(changed_since)s::timestamptz and statement_timestamp()
              or p.created_at between %(changed_since)s::timestamptz and statement_timestamp()
              or p.updated_at between %(changed_since)s::timestamptz and statement_timestamp()
          )
        limit 1
    ) as changed
    where %(changed_since)s::timestamptz is not null
),

missing as (
    -- not exists, not `not in`: an anti-join whatever the counts, where `not in` over a subquery too big to
    -- hash in work_mem is re-scanned for every row (hours at 1,000,000 conversations under app writes)
    select * from missing_now as m
    where not exists (select 1 from unsettled as u where u.front_conversation_id = m.front_conversation_id)
),

extra as (
    select * from extra_now as x
    where not exists (select 1 from unsettled as u where u.front_conversation_id = x.front_conversation_id)
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
