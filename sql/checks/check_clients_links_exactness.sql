-- Compares clients_front_conversations with its definition, the distinct (current client of each linked person, Front conversation) pairs, for conversations created in the checked scope: missing and extra pairs with counts and up to sample_limit samples each.
-- The expected pairs are derived from the source, not from people_front_conversations, so an error
-- in the people table does not hide one here; a person whose client is gone links no client.
-- Scope as in check_people_links_exactness.sql.
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
        p.client_id,
        fm.front_conversation_id
    from scoped_conversations as sc
    inner join {source}.front_messages as fm on fm.front_conversation_id = sc.id
    inner join {source}.front_message_recipients as fmr on fmr.front_message_id = fm.id
    inner join {source}.contact_methods as cm on cm.id = fmr.contact_method_id
    inner join {source}.people as p on p.id = cm.person_id
    inner join {source}.clients as cl on cl.id = p.client_id
),

stored as (
    select
        l.client_id,
        l.front_conversation_id
    from scoped_conversations as sc
    inner join {source}.clients_front_conversations as l on l.front_conversation_id = sc.id
),

missing as (
    select e.client_id, e.front_conversation_id from expected as e
    except
    select s.client_id, s.front_conversation_id from stored as s
),

extra as (
    select s.client_id, s.front_conversation_id from stored as s
    except
    select e.client_id, e.front_conversation_id from expected as e
)

select
    'missing' as problem,
    (select count(*) from missing) as violations,
    (
        select coalesce(jsonb_agg(to_jsonb(s) order by s.client_id, s.front_conversation_id), '[]'::jsonb)
        from (select * from missing order by 1, 2 limit %(sample_limit)s) as s
    ) as samples
union all
select
    'extra',
    (select count(*) from extra),
    (
        select coalesce(jsonb_agg(to_jsonb(s) order by s.client_id, s.front_conversation_id), '[]'::jsonb)
        from (select * from extra order by 1, 2 limit %(sample_limit)s) as s
    );
