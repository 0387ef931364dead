-- Gives each Front link table back its unique pair led by the owner (built concurrently before this transaction) in place of the one led by the conversation; a table the application made (adopted) keeps its own.
do $$
begin
    if not exists (
        select 1 from {source}.convo_pipelines_adopted_tables where table_name = 'people_front_conversations'
    ) then
        alter table {source}.people_front_conversations
        drop constraint people_front_conversations_conversation_person_key,
        add constraint people_front_conversations_person_conversation_key
        unique using index people_front_conversations_person_conversation_key;
    end if;

    if not exists (
        select 1 from {source}.convo_pipelines_adopted_tables where table_name = 'clients_front_conversations'
    ) then
        alter table {source}.clients_front_conversations
        drop constraint clients_front_conversations_conversation_client_key,
        add constraint clients_front_conversations_client_conversation_key
        unique using index clients_front_conversations_client_conversation_key;
    end if;
end
$$;
