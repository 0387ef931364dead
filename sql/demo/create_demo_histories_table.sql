-- Creates one demo crew's histories table (id, session_id, message jsonb, created_at) with indexes on session_id and created_at.
create table if not exists {source}.{histories_table} (
    id serial primary key,
    session_id {session_id_type} not null,
    message jsonb not null,
    created_at timestamptz not null default now()
);
create index if not exists {session_id_index} on {source}.{histories_table} (session_id);
create index if not exists {created_at_index} on {source}.{histories_table} (created_at);
