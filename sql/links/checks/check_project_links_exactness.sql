-- Compares project_conversations with its definition, (conversations.project_id, conversations.id) for conversations whose project exists, added_by being the project's user when that user exists: missing, extra and wrong-added_by rows with counts and up to sample_limit samples each.
-- With sample_conversations set (the check that follows a run), only that many conversations drawn at random are
-- compared, through the indexes; null compares every row.
with sampled as materialized (
    select c.id
    from {source}.conversations as c
    where %(sample_conversations)s::integer is not null
    order by random()
    limit %(sample_conversations)s
),

expected as (
    select
        c.project_id,
        c.id as conversation_id,
        u.id as added_by
    from {source}.conversations as c
    inner join {source}.projects as p on p.id = c.project_id
    left join {source}.users as u on u.id = p.user_id
    where %(sample_conversations)s::integer is null or c.id in (select sampled.id from sampled)
),

stored as (
    select
        l.project_id,
        l.conversation_id,
        l.added_by
    from {source}.project_conversations as l
    where %(sample_conversations)s::integer is null or l.conversation_id in (select sampled.id from sampled)
),

missing as (
    select e.project_id, e.conversation_id from expected as e
    except
    select s.project_id, s.conversation_id from stored as s
),

extra as (
    select s.project_id, s.conversation_id from stored as s
    except
    select e.project_id, e.conversation_id from expected as e
),

wrong_added_by as (
    select
        s.project_id,
        s.conversation_id,
        s.added_by as stored_added_by,
        e.added_by as expected_added_by
    from stored as s
    inner join expected as e
        on e.project_id = s.project_id and e.conversation_id = s.conversation_id
    where s.added_by is distinct from e.added_by
)

select
    'missing' as problem,
    (select count(*) from missing) as violations,
    (
        select coalesce(jsonb_agg(to_jsonb(s) order by s.project_id, s.conversation_id), '[]'::jsonb)
        from (select * from missing order by 1, 2 limit %(sample_limit)s) as s
    ) as samples
union all
select
    'extra',
    (select count(*) from extra),
    (
        select coalesce(jsonb_agg(to_jsonb(s) order by s.project_id, s.conversation_id), '[]'::jsonb)
        from (select * from extra order by 1, 2 limit %(sample_limit)s) as s
    )
union all
select
    'wrong_added_by',
    (select count(*) from wrong_added_by),
    (
        select coalesce(jsonb_agg(to_jsonb(s) order by s.project_id, s.conversation_id), '[]'::jsonb)
        from (select * from wrong_added_by order by 1, 2 limit %(sample_limit)s) as s
    );
