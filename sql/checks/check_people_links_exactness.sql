-- Compares people_front_conversations with its definition, the distinct (person, Front conversation) pairs reached through recipients' contact methods, for conversations created in the checked scope: missing and extra pairs with counts and up to sample_limit samples each.
-- Scope: conversations created in [window_start, window_end), either bound null meaning unbounded.
-- not materialized: each use is planned with the window's own row estimate and indexes
with scoped_conversations as not materialized (
    select fc.id
    from {source}.front_conversations as fc
    where
        (%(window_start)s::timestamptz is null or fc.created_at >= %(window_start)s::timestamptz)
        and (%(window_end)s::timestamptz is null or fc.created_at < %(window_end)s::timestamptz)
),

expected as (
    select distinct
        cm.person_id,
        fm.front_conversation_id
    from scoped_conversations as sc
    inner join {source}.front_messages as fm on fm.front_conversation_id = sc.id
    inner join {source}.front_message_recipients as fmr on fmr.front_message_id = fm.id
    inner join {source}.contact_methods as cm on cm.id = fmr.contact_method_id
    inner join {source}.people as p on p.id = cm.person_id
),

stored as (
    select
        l.person_id,
        l.front_conversation_id
    from scoped_conversations as sc
    inner join {source}.people_front_conversations as l on l.front_conversation_id = sc.id
),

missing as (
    select e.person_id, e.front_conversation_id from expected as e
    except
    select s.person_id, s.front_conversation_id from stored as s
),

extra as (
    select s.person_id, s.front_conversation_id from stored as s
    except
    select e.person_id, e.front_conversation_id from expected as e
)

select
    'missing' as problem,
    (select count(*) from missing) as violations,
    (
        select coalesce(jsonb_agg(to_jsonb(s) order by s.person_id, s.front_conversation_id), '[]'::jsonb)
        from (select * from missing order by 1, 2 limit %(sample_limit)s) as s
    ) as samples
union all
select
    'extra',
    (select count(*) from extra),
    (
        select coalesce(jsonb_agg(to_jsonb(s) order by s.person_id, s.front_conversation_id), '[]'::jsonb)
        from (select * from extra order by 1, 2 limit %(sample_limit)s) as s
    );
