-- The conversations whose differences check_front_links_exactness.sql excuses: those whose source rows the application changed since changed_since (the run's start), the app moving on after the run's snapshot rather than an error (the next run picks them up).
-- Only the differing conversations are looked at. Rows the app hard-deleted leave no trace and still count.
-- A stamp later than this statement is no change made since the run started but a skewed clock: it
-- excuses nothing, or one such row would hide its conversations' differences for as long as it stays ahead.
with differing as (
    select front_conversation_id from missing_now
    union
    select front_conversation_id from extra_now
)

select differing.front_conversation_id
from differing
-- A lateral probe per differing conversation, stopping at its first changed row: written as two
-- EXISTS under an OR, PostgreSQL may plan them as hashed subplans, which build a hash of every
-- recipient's conversation once the app has changed one sampled conversation (a scan of the largest
-- table, beside the app's writes), where this reads a few index entries per conversation.
cross join
    lateral (
        select 1
        from {source}.front_conversations as front_conversation
        where
            front_conversation.id = differing.front_conversation_id
            and (
                front_conversation.created_at between %(changed_since)s::timestamptz and statement_timestamp()
                or front_conversation.updated_at between %(changed_since)s::timestamptz and statement_timestamp()
            )
        union all
        select 1
        from {source}.front_messages as front_message
        inner join {source}.front_message_recipients as recipient on recipient.front_message_id = front_message.id
        left join {source}.contact_methods as contact_method on contact_method.id = recipient.contact_method_id
        left join {source}.people as person on person.id = contact_method.person_id
        where
            front_message.front_conversation_id = differing.front_conversation_id
            and (
                front_message.created_at between %(changed_since)s::timestamptz and statement_timestamp()
                or front_message.updated_at between %(changed_since)s::timestamptz and statement_timestamp()
                or recipient.created_at between %(changed_since)s::timestamptz and statement_timestamp()
                or recipient.updated_at between %(changed_since)s::timestamptz and statement_timestamp()
                or contact_method.created_at between %(changed_since)s::timestamptz and statement_timestamp()
                or contact_method.updated_at between %(changed_since)s::timestamptz and statement_timestamp()
                or person.created_at between %(changed_since)s::timestamptz and statement_timestamp()
                or person.updated_at between %(changed_since)s::timestamptz and statement_timestamp()
            )
        limit 1
    ) as changed
where %(changed_since)s::timestamptz is not null
