-- Creates the operational tables of the source contract (docs/contract.md, section 1) for the demo and the tests.
-- The pipeline never runs this against a real application database: there the app owns these tables.
create schema if not exists {source};

create table if not exists {source}.clients (
    id uuid primary key default gen_random_uuid(),
    code text not null unique,
    name text not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create table if not exists {source}.people (
    id uuid primary key default gen_random_uuid(),
    client_id uuid not null,
    name text not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create index if not exists people_client_id_idx on {source}.people (client_id);

create table if not exists {source}.contact_methods (
    id uuid primary key default gen_random_uuid(),
    person_id uuid references {source}.people (id) on delete set null,
    kind text not null,
    value text not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create index if not exists contact_methods_person_id_idx on {source}.contact_methods (person_id);

create table if not exists {source}.front_conversations (
    id uuid primary key default gen_random_uuid(),
    subject text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create index if not exists front_conversations_created_at_idx on {source}.front_conversations (created_at);

create table if not exists {source}.front_messages (
    id uuid primary key default gen_random_uuid(),
    front_conversation_id uuid not null references {source}.front_conversations (id) on delete cascade,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create index if not exists front_messages_front_conversation_id_idx on {source}.front_messages (front_conversation_id);

create table if not exists {source}.front_message_recipients (
    id uuid primary key default gen_random_uuid(),
    front_message_id uuid not null references {source}.front_messages (id) on delete cascade,
    contact_method_id uuid references {source}.contact_methods (id) on delete set null,
    role text not null default 'to',
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create index if not exists front_message_recipients_front_message_id_idx
on {source}.front_message_recipients (front_message_id);
create index if not exists front_message_recipients_contact_method_id_idx
on {source}.front_message_recipients (contact_method_id);

create table if not exists {source}.users (
    id uuid primary key default gen_random_uuid(),
    created_at timestamptz not null default now()
);

create table if not exists {source}.projects (
    id uuid primary key default gen_random_uuid(),
    user_id uuid references {source}.users (id) on delete cascade,
    name text not null,
    conversation_ids uuid[],
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create table if not exists {source}.conversations (
    id uuid primary key default gen_random_uuid(),
    user_id uuid references {source}.users (id) on delete set null,
    project_id uuid references {source}.projects (id) on delete set null,
    lead_id uuid,
    closed_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create index if not exists conversations_project_id_idx on {source}.conversations (project_id);
create index if not exists conversations_lead_id_idx on {source}.conversations (lead_id);
create index if not exists conversations_created_at_idx on {source}.conversations (created_at);

create table if not exists {source}.crews (
    id uuid primary key default gen_random_uuid(),
    client_id uuid references {source}.clients (id) on delete cascade,
    code text not null unique,
    histories_table_name text not null,
    created_at timestamptz not null default now()
);
