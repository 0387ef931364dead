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
        link.{owner_column},
        link.front_conversation_id,
        link.front_conversation_created_at
    from scoped_conversations as scoped_conversation
    inner join {source}.{link_table} as link on link.front_conversation_id = scoped_conversation.id
),

missing_now as (
    select
        expected_link.{owner_column},
        expected_link.front_conversation_id,
        expected_link.front_conversation_created_at
    from expected as expected_link
    except
    select
        stored_link.{owner_column},
        stored_link.front_conversation_id,
        stored_link.front_conversation_created_at
    from stored as stored_link
),

extra_now as (
    select
        stored_link.{owner_column},
        stored_link.front_conversation_id,
        stored_link.front_conversation_created_at
    from stored as stored_link
    except
    select
        expected_link.{owner_column},
        expected_link.front_conversation_id,
        expected_link.front_conversation_created_at
    from expected as expected_link
),

-- Conversations whose differences are excused (select_unsettled_front_conversations.sql); a check first runs
-- with none excused (excuse_no_front_conversations.sql), a shorter plan that is the answer when nothing differs.
unsettled as (
    {unsettled}
),

missing as (
    -- not exists, not `not in`: an anti-join whatever the counts, where `not in` over a subquery too big to
    -- hash in work_mem is re-scanned for every row (hours at 1,000,000 conversations under app writes)
    select * from missing_now as missing_link
    where
        not exists (
            select 1
            from unsettled as unsettled_row
            where unsettled_row.front_conversation_id = missing_link.front_conversation_id
        )
),

extra as (
    select * from extra_now as extra_link
    where
        not exists (
            select 1
            from unsettled as unsettled_row
            where unsettled_row.front_conversation_id = extra_link.front_conversation_id
        )
)

select
    'missing' as problem,
    (select count(*) from missing) as violations,
    (
        select
            coalesce(
                jsonb_agg(to_jsonb(sample) order by sample.{owner_column}, sample.front_conversation_id), '[]'::jsonb
            )
        from (select * from missing order by 1, 2 limit %(sample_limit)s) as sample
    ) as samples
union all
select
    'extra' as problem,
    (select count(*) from extra) as violations,
    (
        select
            coalesce(
                jsonb_agg(to_jsonb(sample) order by sample.{owner_column}, sample.front_conversation_id), '[]'::jsonb
            )
        from (select * from extra order by 1, 2 limit %(sample_limit)s) as sample
    ) as samples;
