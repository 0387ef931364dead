-- Builds each Front link table's unique pair led by the conversation, beside the app, before the migration's transaction swaps it in.
-- CONCURRENTLY: the build takes SHARE UPDATE EXCLUSIVE on the link table, which neither the app's reads nor its
-- cascading deletes wait on; a plain CREATE INDEX would hold SHARE, and every cascade of a person's or a
-- conversation's delete would queue behind it for the whole build.
create unique index concurrently if not exists people_front_conversations_conversation_person_key
on {source}.people_front_conversations (front_conversation_id, person_id);
create unique index concurrently if not exists clients_front_conversations_conversation_client_key
on {source}.clients_front_conversations (front_conversation_id, client_id);
