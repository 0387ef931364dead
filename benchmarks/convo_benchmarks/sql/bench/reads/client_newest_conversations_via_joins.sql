-- One client's 50 newest Front conversations the old way: people -> contact methods -> recipients -> messages -> conversations.
with reached as (
    select distinct message.front_conversation_id
    from {source}.people as person
    inner join {source}.contact_methods as contact_method
        on contact_method.person_id = person.id
    inner join {source}.front_message_recipients as recipient
        on recipient.contact_method_id = contact_method.id
    inner join {source}.front_messages as message
        on message.id = recipient.front_message_id
    where person.client_id = %(id)s
)

select
    conversation.id,
    conversation.created_at
from reached
inner join {source}.front_conversations as conversation
    on conversation.id = reached.front_conversation_id
order by conversation.created_at desc, conversation.id desc
limit 50
