-- Copies each Front conversation's created_at into its people and client links, with an index per owner in
-- that order, so "the newest 50 conversations of a person / client" reads 50 index entries instead of
-- fetching every conversation of the owner and sorting them.
-- On a table the application made (adopted), only the column is added here, nullable so that the app's own
-- inserts, which do not name it, keep working: the first backfill fills it, and 0010 builds its index
-- concurrently.
do $$
begin
    if exists (
        select 1 from {source}.convo_pipelines_adopted_tables where table_name = 'people_front_conversations'
    ) then
        alter table {source}.people_front_conversations
            add column if not exists front_conversation_created_at timestamptz;
        update {source}.convo_pipelines_adopted_tables
        set added = array_append(added, 'column front_conversation_created_at')
        where table_name = 'people_front_conversations';
    else
        alter table {source}.people_front_conversations
            add column front_conversation_created_at timestamptz;
        update {source}.people_front_conversations as link
        set front_conversation_created_at = conversation.created_at
        from {source}.front_conversations as conversation
        where conversation.id = link.front_conversation_id;
        alter table {source}.people_front_conversations
            alter column front_conversation_created_at set not null;
        create index people_front_conversations_person_newest_idx
            on {source}.people_front_conversations (person_id, front_conversation_created_at desc, front_conversation_id desc);
    end if;

    if exists (
        select 1 from {source}.convo_pipelines_adopted_tables where table_name = 'clients_front_conversations'
    ) then
        alter table {source}.clients_front_conversations
            add column if not exists front_conversation_created_at timestamptz;
        update {source}.convo_pipelines_adopted_tables
        set added = array_append(added, 'column front_conversation_created_at')
        where table_name = 'clients_front_conversations';
    else
        alter table {source}.clients_front_conversations
            add column front_conversation_created_at timestamptz;
        update {source}.clients_front_conversations as link
        set front_conversation_created_at = conversation.created_at
        from {source}.front_conversations as conversation
        where conversation.id = link.front_conversation_id;
        alter table {source}.clients_front_conversations
            alter column front_conversation_created_at set not null;
        create index clients_front_conversations_client_newest_idx
            on {source}.clients_front_conversations (client_id, front_conversation_created_at desc, front_conversation_id desc);
    end if;
end
$$;
comment on column {source}.people_front_conversations.front_conversation_created_at is
    'front_conversations.created_at of the conversation, copied so a person''s newest conversations are one index range scan.';
comment on column {source}.clients_front_conversations.front_conversation_created_at is
    'front_conversations.created_at of the conversation, copied so a client''s newest conversations are one index range scan.';
