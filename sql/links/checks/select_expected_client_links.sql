-- Computes the pairs clients_front_conversations should hold for check_front_links_exactness.sql's scoped_conversations: distinct (current client of each reached person, Front conversation) pairs, for clients that exist.
-- Derived from the source, not from people_front_conversations, so an error in the people table
-- does not hide one here; a person whose client is gone links no client.
select distinct
    person.client_id,
    front_message.front_conversation_id,
    scoped_conversation.created_at::timestamptz as front_conversation_created_at
from scoped_conversations as scoped_conversation
inner join {source}.front_messages as front_message on front_message.front_conversation_id = scoped_conversation.id
inner join {source}.front_message_recipients as recipient on recipient.front_message_id = front_message.id
inner join {source}.contact_methods as contact_method on contact_method.id = recipient.contact_method_id
inner join {source}.people as person on person.id = contact_method.person_id
inner join {source}.clients as client on client.id = person.client_id
