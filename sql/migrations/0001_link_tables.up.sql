-- Creates the three link tables that turn "people / clients / project of a conversation" into one indexed join.
-- The unique pairs lead with the owner's id, so they also serve "conversations of this person / client / project".
-- The foreign keys to the source tables are added by each table's first fill (NOT VALID, then validated), not
-- here: a table's foreign keys cannot be dropped without an ACCESS EXCLUSIVE lock on the referenced source table,
-- so the first fill loads into a table without them and adds them afterwards, never blocking the application.
-- A Front link table the application made itself (convo_pipelines_adopted_tables, checked and recorded just
-- before this file runs) is adopted instead: neither created nor commented here, its owner's comment kept.

do $$
begin
    if not exists (
        select 1 from {source}.convo_pipelines_adopted_tables where table_name = 'people_front_conversations'
    ) then
        create table {source}.people_front_conversations (
            id uuid not null default gen_random_uuid(),
            person_id uuid not null,
            front_conversation_id uuid not null,
            created_at timestamptz not null default now(),
            updated_at timestamptz not null default now(),
            constraint people_front_conversations_pkey primary key (id),
            constraint people_front_conversations_person_conversation_key unique (person_id, front_conversation_id)
        );
        create index people_front_conversations_front_conversation_id_idx
            on {source}.people_front_conversations (front_conversation_id);
        comment on table {source}.people_front_conversations is
            'One row per (person, Front conversation) where one of the person''s contact methods received a message of the conversation. Kept by convo_pipelines.';
    end if;

    if not exists (
        select 1 from {source}.convo_pipelines_adopted_tables where table_name = 'clients_front_conversations'
    ) then
        create table {source}.clients_front_conversations (
            id uuid not null default gen_random_uuid(),
            client_id uuid not null,
            front_conversation_id uuid not null,
            created_at timestamptz not null default now(),
            updated_at timestamptz not null default now(),
            constraint clients_front_conversations_pkey primary key (id),
            constraint clients_front_conversations_client_conversation_key unique (client_id, front_conversation_id)
        );
        create index clients_front_conversations_front_conversation_id_idx
            on {source}.clients_front_conversations (front_conversation_id);
        comment on table {source}.clients_front_conversations is
            'One row per (client, Front conversation) where a person of the client (current client) took part. Kept by convo_pipelines.';
    end if;
end
$$;

-- One project per conversation: unique (conversation_id). The (project_id, conversation_id) pair
-- is unique too, and as its leading column project_id needs no index of its own.
create table {source}.project_conversations (
    id uuid not null default gen_random_uuid(),
    project_id uuid not null,
    conversation_id uuid not null,
    added_at timestamptz not null default now(),
    added_by uuid,
    constraint project_conversations_pkey primary key (id),
    constraint project_conversations_project_conversation_key unique (project_id, conversation_id),
    constraint project_conversations_conversation_key unique (conversation_id)
);

comment on table {source}.project_conversations is
    'One row per conversation that belongs to a project (conversations.project_id). Kept by convo_pipelines.';
