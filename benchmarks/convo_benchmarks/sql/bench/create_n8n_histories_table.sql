-- Creates a histories table as n8n's Postgres Chat Memory (LangChain JS PostgresChatMessageHistory) creates its own:
-- id serial primary key, session_id varchar(255), message jsonb; no created_at, no other index.
create table {source}.{histories_table} (
    id serial primary key,
    session_id varchar(255) not null,
    message jsonb not null
)
