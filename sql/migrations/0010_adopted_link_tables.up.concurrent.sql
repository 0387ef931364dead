-- Builds, beside the app, what a Front link table the application made (adopted) lacks: the unique pair led by the conversation and the index by owner newest first.
-- On the project's own tables both exist already, and on an adopted one each is skipped when the table's own
-- indexes do its work (a unique index on the same pair, and one led by the conversation): the app's indexes
-- get no second copy.
create unique index concurrently if not exists people_front_conversations_conversation_person_key
on {source}.people_front_conversations (front_conversation_id, person_id);
create index concurrently if not exists people_front_conversations_person_newest_idx
on {source}.people_front_conversations (person_id, front_conversation_created_at desc, front_conversation_id desc);
create unique index concurrently if not exists clients_front_conversations_conversation_client_key
on {source}.clients_front_conversations (front_conversation_id, client_id);
create index concurrently if not exists clients_front_conversations_client_newest_idx
on {source}.clients_front_conversations (client_id, front_conversation_created_at desc, front_conversation_id desc);
