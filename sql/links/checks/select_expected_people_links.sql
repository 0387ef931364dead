-- Computes the pairs people_front_conversations should hold for check_front_links_exactness.sql's scoped_conversations: distinct (person, Front conversation) pairs reached through recipients' contact methods, for people that exist.
select distinct
    contact_method.person_id,
    front_message.front_conversation_id,
    scoped_conversation.created_at::timestamptz as front_conversation_created_at
from scoped_conversations as scoped_conversation
inner join {source}.front_messages as front_message on front_message.front_conversation_id = scoped_conversation.id
inner join {source}.front_message_recipients as recipient on recipient.front_message_id = front_message.id
inner join {source}.contact_methods as contact_method on contact_method.id = recipient.contact_method_id
inner join {source}.people as person on person.id = contact_method.person_id
