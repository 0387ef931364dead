-- Builds back, beside the app, each Front link table's unique pair led by the owner and its index by conversation, before the down migration's transaction swaps them in.
create unique index concurrently if not exists people_front_conversations_person_conversation_key
on {source}.people_front_conversations (person_id, front_conversation_id);
create index concurrently if not exists people_front_conversations_front_conversation_id_idx
on {source}.people_front_conversations (front_conversation_id);
create unique index concurrently if not exists clients_front_conversations_client_conversation_key
on {source}.clients_front_conversations (client_id, front_conversation_id);
create index concurrently if not exists clients_front_conversations_front_conversation_id_idx
on {source}.clients_front_conversations (front_conversation_id);
