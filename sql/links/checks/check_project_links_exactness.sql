-- Compares project_conversations with its definition, (conversations.project_id, conversations.id) for conversations whose project exists, added_by being the project's user when that user exists: missing, extra and wrong-added_by rows with counts and up to sample_limit samples each.
-- With sample_conversations set (the check that follows a run), only that many conversations drawn at random are
-- compared, through the indexes; null compares every row.
with sampled as materialized (
    select conversation.id
    from {source}.conversations as conversation
    where %(sample_conversations)s::integer is not null
    order by random()
    limit %(sample_conversations)s
),

expected as (
    select
        conversation.project_id,
        conversation.id as conversation_id,
        project_user.id as added_by
    from {source}.conversations as conversation
    inner join {source}.projects as project on project.id = conversation.project_id
    left join {source}.users as project_user on project_user.id = project.user_id
    where %(sample_conversations)s::integer is null or conversation.id in (select sampled.id from sampled)
),

stored as (
    select
        link.project_id,
        link.conversation_id,
        link.added_by
    from {source}.project_conversations as link
    where %(sample_conversations)s::integer is null or link.conversation_id in (select sampled.id from sampled)
),

missing as (
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

extra as (
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

wrong_added_by as (
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
