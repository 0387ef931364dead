-- Gives each Front link table back its unique pair led by the owner (built concurrently before this transaction) in place of the one led by the conversation.
alter table {source}.people_front_conversations
drop constraint people_front_conversations_conversation_person_key,
add constraint people_front_conversations_person_conversation_key
unique using index people_front_conversations_person_conversation_key;

alter table {source}.clients_front_conversations
drop constraint clients_front_conversations_conversation_client_key,
add constraint clients_front_conversations_client_conversation_key
unique using index clients_front_conversations_client_conversation_key;
