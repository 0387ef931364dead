-- Finds the UTC days of Front conversations touched by a change stamped after changed_after (future stamps included) in one of the changed_buckets (stamp buckets of bucket_seconds since the epoch, a stamp after newest_bucket_stamp, the tick's moment, in that moment's bucket, as select_change_fingerprints.sql numbers them), collapsed into ranges of consecutive days (first_day, last_day) of the partitions (the last, ending at partitions_end, taking later ones), with the touched conversations' ids when naming them costs less than the whole range (see range_costs).
-- A change is a row whose latest stamp, greatest(created_at, updated_at), is in the interval: a person
-- (moved to another client), a contact method (resolved to a person), a recipient, a message or the
-- conversation itself. The tick names the buckets whose fingerprint changed since the previous tick, so a
-- change is read again only while its bucket keeps changing. With the index the project recommends on that
-- expression (check late_change_indexes), each table is one index range scan; without it, one full read.
-- The walk from people to conversations uses the FK indexes.
with changed_people as (
    select person.id
    from {source}.people as person
    where
        greatest(person.created_at, person.updated_at) > %(changed_after)s
        and floor(
            extract(epoch from least(greatest(person.created_at, person.updated_at), %(newest_bucket_stamp)s))
            / %(bucket_seconds)s
        )::bigint
        = any(%(changed_buckets)s)
),

changed_contact_methods as (
    select contact_method.id
    from {source}.contact_methods as contact_method
    where
        greatest(contact_method.created_at, contact_method.updated_at) > %(changed_after)s
        and floor(
            extract(
                epoch from least(
                    greatest(contact_method.created_at, contact_method.updated_at), %(newest_bucket_stamp)s
                )
            )
            / %(bucket_seconds)s
        )::bigint
        = any(%(changed_buckets)s)
    union
    select contact_method.id
    from changed_people as changed_person
    inner join {source}.contact_methods as contact_method on contact_method.person_id = changed_person.id
),

changed_messages as (
    select recipient.front_message_id as id
    from {source}.front_message_recipients as recipient
    where
        greatest(recipient.created_at, recipient.updated_at) > %(changed_after)s
        and floor(
            extract(epoch from least(greatest(recipient.created_at, recipient.updated_at), %(newest_bucket_stamp)s))
            / %(bucket_seconds)s
        )::bigint
        = any(%(changed_buckets)s)
    union
    select recipient.front_message_id
    from changed_contact_methods as changed_contact_method
    inner join {source}.front_message_recipients as recipient on recipient.contact_method_id = changed_contact_method.id
    union
    select front_message.id
    from {source}.front_messages as front_message
    where
        greatest(front_message.created_at, front_message.updated_at) > %(changed_after)s
        and floor(
            extract(
                epoch from least(greatest(front_message.created_at, front_message.updated_at), %(newest_bucket_stamp)s)
            )
            / %(bucket_seconds)s
        )::bigint
        = any(%(changed_buckets)s)
),

changed_conversations as (
    select front_message.front_conversation_id as id
    from changed_messages as changed_message
    inner join {source}.front_messages as front_message on front_message.id = changed_message.id
    union
    select front_conversation.id
    from {source}.front_conversations as front_conversation
    where
        greatest(front_conversation.created_at, front_conversation.updated_at) > %(changed_after)s
        and floor(
            extract(
                epoch from least(
                    greatest(front_conversation.created_at, front_conversation.updated_at), %(newest_bucket_stamp)s
                )
            )
            / %(bucket_seconds)s
        )::bigint
        = any(%(changed_buckets)s)
),

-- the first partition also owns the conversations created before it, and the last one (today's, ending at
-- partitions_end) those created after it: the assets link them there
changed_front_conversations as (
    select distinct
        front_conversation.id,
        least(
            (greatest(front_conversation.created_at::timestamptz, %(partitions_start)s) at time zone 'UTC')::date,
            (%(partitions_end)s::timestamptz at time zone 'UTC')::date - 1
        ) as day
    from changed_conversations as changed_conversation
    inner join {source}.front_conversations as front_conversation on front_conversation.id = changed_conversation.id
    where %(partitions_end)s::timestamptz is not null -- no partition exists yet
),

-- consecutive days share day - dense_rank: each island is one range of days
islands as (
    select
        changed_front_conversation.id,
        changed_front_conversation.day,
        changed_front_conversation.day
        - (dense_rank() over (order by changed_front_conversation.day))::integer as island
    from changed_front_conversations as changed_front_conversation
),

ranges as (
    select
        island_day.island,
        min(island_day.day) as first_day,
        max(island_day.day) as last_day,
        count(*) as conversations
    from islands as island_day
    group by island_day.island
),

-- a range's conversations are named (in runs of a bounded size) while recomputing them one by one costs less
-- than recomputing the whole range: while they are at most max_named_conversations, or at most one in
-- whole_range_per_named_conversation of the conversations the range holds (an index-only scan of created_at,
-- read only for the ranges past the first bound)
range_costs as (
    select
        changed_range.*,
        changed_range.conversations <= %(max_named_conversations)s
        or changed_range.conversations * %(whole_range_per_named_conversation)s <= (
            select count(*)
            from {source}.front_conversations as front_conversation
            where
                front_conversation.created_at >= case
                    when changed_range.first_day <= (%(partitions_start)s::timestamptz at time zone 'UTC')::date
                        then '-infinity'::timestamptz
                    else changed_range.first_day::timestamp at time zone 'UTC'
                end
                and front_conversation.created_at < case
                    when changed_range.last_day >= (%(partitions_end)s::timestamptz at time zone 'UTC')::date - 1
                        then 'infinity'::timestamptz
                    else (changed_range.last_day + 1)::timestamp at time zone 'UTC'
                end
        ) as named
    from ranges as changed_range
)

select
    range_cost.first_day,
    range_cost.last_day,
    range_cost.conversations,
    -- the ids only when naming them is cheaper; otherwise the run recomputes the whole range
    case
        when range_cost.named
            then (
                select array_agg(island_day.id::text order by island_day.id)
                from islands as island_day
                where island_day.island = range_cost.island
            )
    end as conversation_ids
from range_costs as range_cost
order by range_cost.first_day;
