-- One late change for the benchmark: a new recipient, on the newest message of the day's first conversation, reaching a person not yet linked to it; returns that conversation.
with target as (
    select
        message.id as front_message_id,
        message.front_conversation_id
    from {source}.front_conversations as conversation
    inner join {source}.front_messages as message
        on message.front_conversation_id = conversation.id
    where
        conversation.created_at >= %(start)s
        and conversation.created_at < %(end)s
    order by conversation.created_at asc, message.created_at desc
    limit 1
),

newcomer as (
    select contact_method.id as contact_method_id
    from {source}.contact_methods as contact_method
    inner join target on true
    where
        contact_method.person_id is not null
        and not exists (
            select 1
            from {source}.people_front_conversations as link
            where
                link.person_id = contact_method.person_id
                and link.front_conversation_id = target.front_conversation_id
        )
    limit 1
),

inserted as (
    insert into {source}.front_message_recipients (front_message_id, contact_method_id, role)
    select
        target.front_message_id,
        newcomer.contact_method_id,
        'cc' as role
    from target
    cross join newcomer
    returning front_message_id
)

select target.front_conversation_id::text as front_conversation_id
from inserted
inner join target on target.front_message_id = inserted.front_message_id
