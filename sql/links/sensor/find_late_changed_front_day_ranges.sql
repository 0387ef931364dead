-- Finds the UTC days of Front conversations touched by a change in (changed_after, changed_through], collapsed into ranges of consecutive days (first_day, last_day) of the partitions (the last, ending at partitions_end, taking later ones), with the touched conversations' ids when at most max_named_conversations.
-- A change is a row whose latest stamp, greatest(created_at, updated_at), is in the interval: a person
-- (moved to another client), a contact method (resolved to a person), a recipient, a message or the
-- conversation itself. Ticks' intervals follow each other, so every change is seen once, at its latest
-- stamp. With the index the project recommends on that expression (check late_change_indexes), each
-- table is one index range scan; without it, one full read. The walk from people to conversations
-- uses the FK indexes.
with changed_people as (
    select p.id
    from {source}.people as p
    where
        greatest(p.created_at, p.updated_at) > %(changed_after)s
        and greatest(p.created_at, p.updated_at) <= %(changed_through)s
),

changed_contact_methods as (
    select cm.id
    from {source}.contact_methods as cm
    where
        greatest(cm.created_at, cm.updated_at) > %(changed_after)s
        and greatest(cm.created_at, cm.updated_at) <= %(changed_through)s
    union
    select cm.id
    from changed_people as cp
    inner join {source}.contact_methods as cm on cm.person_id = cp.id
),

changed_messages as (
    select fmr.front_message_id as id
    from {source}.front_message_recipients as fmr
    where
        greatest(fmr.created_at, fmr.updated_at) > %(changed_after)s
        and greatest(fmr.created_at, fmr.updated_at) <= %(changed_through)s
    union
    select fmr.front_message_id
    from changed_contact_methods as ccm
    inner join {source}.front_message_recipients as fmr on fmr.contact_method_id = ccm.id
    union
    select fm.id
    from {source}.front_messages as fm
    where
        greatest(fm.created_at, fm.updated_at) > %(changed_after)s
        and greatest(fm.created_at, fm.updated_at) <= %(changed_through)s
),

changed_conversations as (
    select fm.front_conversation_id as id
    from changed_messages as cmsg
    inner join {source}.front_messages as fm on fm.id = cmsg.id
    union
    select fc.id
    from {source}.front_conversations as fc
    where
        greatest(fc.created_at, fc.updated_at) > %(changed_after)s
        and greatest(fc.created_at, fc.updated_at) <= %(changed_through)s
),

-- the first partition also owns the conversations created before it, and the last one (today's, ending at
-- partitions_end) those created after it: the assets link them there
changed_front_conversations as (
    select distinct
        fc.id,
        least(
            (greatest(fc.created_at, %(partitions_start)s) at time zone 'UTC')::date,
            (%(partitions_end)s::timestamptz at time zone 'UTC')::date - 1
        ) as day
    from changed_conversations as cc
    inner join {source}.front_conversations as fc on fc.id = cc.id
    where %(partitions_end)s::timestamptz is not null -- no partition exists yet
),

-- consecutive days share day - dense_rank: each island is one range of days
islands as (
    select
        cfc.id,
        cfc.day,
        cfc.day - (dense_rank() over (order by cfc.day))::integer as island
    from changed_front_conversations as cfc
)

select
    min(i.day) as first_day,
    max(i.day) as last_day,
    count(*) as conversations,
    -- the ids only when few enough to name in a run's config; otherwise the run recomputes the whole range
    case when count(*) <= %(max_named_conversations)s then array_agg(i.id::text order by i.id) end as conversation_ids
from islands as i
group by i.island
order by first_day;
