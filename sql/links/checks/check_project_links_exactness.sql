-- Compares project_conversations with its definition, (conversations.project_id, conversations.id) for conversations whose project exists, added_by being the project's user when that user exists: missing, extra and wrong-added_by rows with counts and up to sample_limit samples each, less those of conversations the app changed since changed_since.
-- With sample_conversations set (the check that follows a whole run), only that many conversations drawn at random
-- are compared; with only_conversation_ids (the check that follows a scoped run), only those; with neither, every
-- row. Differences in conversations the app changed since the run started are left out.
-- Each side is a union of the whole table's rows and the scoped ones', one branch ruled out by the parameters
-- before it runs: the scoped branch joins its conversations through the indexes, where a filter such as
-- `whole or id in (scoped)` reads every row of both tables whatever the scope.
with sampled as materialized (
    select conversation.id
    from {source}.conversations as conversation
    where %(sample_conversations)s::integer is not null
    order by random()
    limit %(sample_conversations)s
),

scoped as materialized (
    select sampled.id from sampled
    union
    select named.id from unnest(%(only_conversation_ids)s::uuid[]) as named (id)
),

expected as (
    select
        conversation.project_id,
        conversation.id as conversation_id,
        project_user.id as added_by
    from {source}.conversations as conversation
    inner join {source}.projects as project on project.id = conversation.project_id
    left join {source}.users as project_user on project_user.id = project.user_id
    where %(sample_conversations)s::integer is null and %(only_conversation_ids)s::uuid[] is null
    union all
    select
        conversation.project_id,
        conversation.id as conversation_id,
        project_user.id as added_by
    from scoped as scoped_conversation
    inner join {source}.conversations as conversation on conversation.id = scoped_conversation.id
    inner join {source}.projects as project on project.id = conversation.project_id
    left join {source}.users as project_user on project_user.id = project.user_id
    where %(sample_conversations)s::integer is not null or %(only_conversation_ids)s::uuid[] is not null
),

stored as (
    select
        link.project_id,
        link.conversation_id,
        link.added_by
    from {source}.project_conversations as link
    where %(sample_conversations)s::integer is null and %(only_conversation_ids)s::uuid[] is null
    union all
    select
        link.project_id,
        link.conversation_id,
        link.added_by
    from scoped as scoped_conversation
    inner join {source}.project_conversations as link on link.conversation_id = scoped_conversation.id
    where %(sample_conversations)s::integer is not null or %(only_conversation_ids)s::uuid[] is not null
),

missing_now as (
    select
        expected_link.project_id,
        expected_link.conversation_id
    from expected as expected_link
    except
    select
        stored_link.project_id,
        stored_link.conversation_id
    from stored as stored_link
),

extra_now as (
    select
        stored_link.project_id,
        stored_link.conversation_id
    from stored as stored_link
    except
    select
        expected_link.project_id,
        expected_link.conversation_id
    from expected as expected_link
),

wrong_added_by_now as (
    select
        stored_link.project_id,
        stored_link.conversation_id,
        stored_link.added_by as stored_added_by,
        expected_link.added_by as expected_added_by
    from stored as stored_link
    inner join expected as expected_link
        on
            expected_link.project_id = stored_link.project_id
            and expected_link.conversation_id = stored_link.conversation_id
    where stored_link.added_by is distinct from expected_link.added_by
),

differing as (
    select missing_link.conversation_id from missing_now as missing_link
    union
    select extra_link.conversation_id from extra_now as extra_link
    union
    select wrong_link.conversation_id from wrong_added_by_now as wrong_link
),

-- Conversations whose differences are the app moving on after the run's snapshot, left to the next run: the
-- conversation, or its project, stamped since changed_since (the run's start; null: none left out) and not
-- later than this statement (a later stamp is a skewed clock, which excuses nothing). Only the differing
-- conversations are looked up, one index probe each. Rows the app hard-deleted leave no stamp and still count.
unsettled as (
    select differing_conversation.conversation_id
    from differing as differing_conversation
    inner join {source}.conversations as conversation on conversation.id = differing_conversation.conversation_id
    left join {source}.projects as project on project.id = conversation.project_id
    where
        %(changed_since)s::timestamptz is not null
        and (
            greatest(conversation.created_at, conversation.updated_at)
            between %(changed_since)s::timestamptz and statement_timestamp()
            or greatest(project.created_at, project.updated_at)
            between %(changed_since)s::timestamptz and statement_timestamp()
        )
),

missing as (
    select missing_link.*
    from missing_now as missing_link
    where not exists (select from unsettled where unsettled.conversation_id = missing_link.conversation_id)
),

extra as (
    select extra_link.*
    from extra_now as extra_link
    where not exists (select from unsettled where unsettled.conversation_id = extra_link.conversation_id)
),

wrong_added_by as (
    select wrong_link.*
    from wrong_added_by_now as wrong_link
    where not exists (select from unsettled where unsettled.conversation_id = wrong_link.conversation_id)
)

select
    'missing' as problem,
    (select count(*) from missing) as violations,
    (
        select coalesce(jsonb_agg(to_jsonb(sample) order by sample.project_id, sample.conversation_id), '[]'::jsonb)
        from (select * from missing order by 1, 2 limit %(sample_limit)s) as sample
    ) as samples
union all
select
    'extra' as problem,
    (select count(*) from extra) as violations,
    (
        select coalesce(jsonb_agg(to_jsonb(sample) order by sample.project_id, sample.conversation_id), '[]'::jsonb)
        from (select * from extra order by 1, 2 limit %(sample_limit)s) as sample
    ) as samples
union all
select
    'wrong_added_by' as problem,
    (select count(*) from wrong_added_by) as violations,
    (
        select coalesce(jsonb_agg(to_jsonb(sample) order by sample.project_id, sample.conversation_id), '[]'::jsonb)
        from (select * from wrong_added_by order by 1, 2 limit %(sample_limit)s) as sample
    ) as samples;
