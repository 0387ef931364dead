-- Inserts the recipients of the messages of demo conversations [first, last): 2-4 distinct participants per message (about 3), a few with no contact method.
with messages as (
    select
        plan.conversation_number,
        plan.participant_count,
        message.i as message_number,
        least(plan.created_at + make_interval(mins => message.i * plan.reply_minutes), %(end)s::timestamptz)
            as created_at,
        hashtextextended(%(salt)s || ':fm:' || plan.conversation_number || ':' || message.i, 0)
        & 9223372036854775807 as h
    from pg_temp.demo_conversation_plan as plan
    cross join lateral generate_series(0, plan.message_count - 1) as message (i)
    where
        plan.conversation_number >= %(first)s
        and plan.conversation_number < %(last)s
),

recipients as (
    select
        messages.conversation_number,
        messages.message_number,
        messages.created_at,
        recipient.q as recipient_number,
        mod(messages.h + recipient.q, messages.participant_count) as slot_number,
        mod(messages.h / (7 + recipient.q), 100) as dice
    from messages
    cross join
        lateral generate_series(0, least(2 + mod(messages.h / 7, 3)::int, messages.participant_count) - 1)
            as recipient (q)
)

insert into {source}.front_message_recipients (id, front_message_id, contact_method_id, role, created_at, updated_at)
select
    md5(
        %(salt)s
        || ':fr:'
        || recipients.conversation_number
        || ':'
        || recipients.message_number
        || ':'
        || recipients.recipient_number
    )::uuid as id,
    md5(%(salt)s || ':fm:' || recipients.conversation_number || ':' || recipients.message_number)::uuid
        as front_message_id,
    case when recipients.dice < 3 then null else participant.contact_method_id end as contact_method_id,
    case when recipients.recipient_number = 0 then 'from' when recipients.dice < 20 then 'cc' else 'to' end as role,
    recipients.created_at,
    recipients.created_at as updated_at
from recipients
inner join pg_temp.demo_participant_plan as participant
    on
        participant.conversation_number = recipients.conversation_number
        and participant.slot_number = recipients.slot_number
-- the chunk's participants by key range: joined by hash, the whole plan was read at every chunk
where
    participant.conversation_number >= %(first)s
    and participant.conversation_number < %(last)s;
