-- Computes the pairs clients_front_conversations should hold for check_front_links_exactness.sql's scoped_conversations: distinct (current client of each reached person, Front conversation) pairs, for clients that exist.
-- Derived from the source, not from people_front_conversations, so an error in the people table
-- does not hide one here; a person whose client is gone links no client.
select distinct
    p.client_id,
    fm.front_conversation_id,
    sc.created_at as front_conversation_created_at
from scoped_conversations as sc
inner join {source}.front_messages as fm on fm.front_conversation_id = sc.id
inner join {source}.front_message_recipients as fmr on fmr.front_message_id = fm.id
inner join {source}.contact_methods as cm on cm.id = fmr.contact_method_id
inner join {source}.people as p on p.id = cm.person_id
inner join {source}.clients as cl on cl.id = p.client_id
