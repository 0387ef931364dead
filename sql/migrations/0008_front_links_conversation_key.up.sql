-- Makes each Front link table's unique pair lead with the conversation, and drops the index by conversation it makes redundant.
-- One index then keeps the pairs unique and serves the app's "people / clients of a conversation", a window's
-- reads and the cascades of a conversation's delete (ON CONFLICT (person_id, front_conversation_id) infers it:
-- PostgreSQL matches a unique index by its set of columns). A first fill inserts its pairs in conversation
-- order, so this index and the primary key grow at their right edge. The index was built concurrently before
-- this transaction (the .up.concurrent.sql file); here the constraint is swapped onto it, which takes ACCESS
-- EXCLUSIVE on the link table for a moment, under the migrations' short lock_timeout, retried.
-- A table the application made (adopted) keeps its own indexes: its unique pair and its index by conversation
-- already give both, so the concurrent build found them and built nothing there.
do $$
begin
    if not exists (
        select 1 from {source}.convo_pipelines_adopted_tables where table_name = 'people_front_conversations'
    ) then
        alter table {source}.people_front_conversations
        drop constraint people_front_conversations_person_conversation_key,
        add constraint people_front_conversations_conversation_person_key
        unique using index people_front_conversations_conversation_person_key;
        drop index if exists {source}.people_front_conversations_front_conversation_id_idx;
    end if;

    if not exists (
        select 1 from {source}.convo_pipelines_adopted_tables where table_name = 'clients_front_conversations'
    ) then
        alter table {source}.clients_front_conversations
        drop constraint clients_front_conversations_client_conversation_key,
        add constraint clients_front_conversations_conversation_client_key
        unique using index clients_front_conversations_conversation_client_key;
        drop index if exists {source}.clients_front_conversations_front_conversation_id_idx;
    end if;
end
$$;
