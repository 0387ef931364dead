-- Creates the analytics schema (histories_sessions, conversation_summaries, daily_conversation_stats) and the analytics_reader role.
-- Grains are primary keys; the extra indexes serve the pipeline's window scans and analysts' per-client and per-day queries.

create schema if not exists {analytics};

create table {analytics}.histories_sessions (
    crew_code text not null,
    session_id text not null,
    activity_date date not null,
    client_code text,
    message_count integer not null,
    human_message_count integer not null,
    ai_message_count integer not null,
    malformed_message_count integer not null,
    first_message_at timestamptz not null,
    last_message_at timestamptz not null,
    constraint histories_sessions_pkey primary key (crew_code, session_id, activity_date)
);
-- The pipeline replaces one crew's slice of days; analysts filter by day and by client.
create index histories_sessions_crew_code_activity_date_idx on {analytics}.histories_sessions (crew_code, activity_date);
create index histories_sessions_activity_date_idx on {analytics}.histories_sessions (activity_date);
create index histories_sessions_client_code_activity_date_idx on {analytics}.histories_sessions (client_code, activity_date);

create table {analytics}.conversation_summaries (
    crew_code text not null,
    session_id text not null,
    client_code text,
    message_count integer not null,
    human_message_count integer not null,
    ai_message_count integer not null,
    started_at timestamptz not null,
    ended_at timestamptz not null,
    duration_seconds numeric not null,
    active_days integer not null,
    first_human_message text,
    updated_at timestamptz not null default now(),
    constraint conversation_summaries_pkey primary key (crew_code, session_id)
);
-- A window run finds the summaries whose span overlaps it (ended_at >= window start) with an index-only scan.
create index conversation_summaries_crew_code_ended_at_idx
    on {analytics}.conversation_summaries (crew_code, ended_at) include (started_at, session_id);
-- The same across crews: removed crews' summaries and the checks' window scope.
create index conversation_summaries_ended_at_idx on {analytics}.conversation_summaries (ended_at) include (started_at);
create index conversation_summaries_client_code_started_at_idx on {analytics}.conversation_summaries (client_code, started_at);
create index conversation_summaries_started_at_idx on {analytics}.conversation_summaries (started_at);

create view {analytics}.daily_conversation_stats as
select
    hs.activity_date,
    hs.client_code,
    hs.crew_code,
    count(*) as sessions,
    sum(hs.message_count) as messages,
    sum(hs.human_message_count) as human_messages,
    sum(hs.ai_message_count) as ai_messages
from {analytics}.histories_sessions as hs
group by hs.activity_date, hs.client_code, hs.crew_code;

-- Histories tables whose message column is text: a row that is not JSON becomes null (counted as malformed)
-- instead of failing the whole crew. Owner-only: analysts get SELECT on tables and nothing else.
create function {analytics}.parse_json_or_null(value text) returns jsonb
    language plpgsql immutable strict parallel safe
as $$
begin
    return value::jsonb;
exception when others then
    return null;
end
$$;
revoke execute on function {analytics}.parse_json_or_null(text) from public;

comment on schema {analytics} is
    'Chat-history analytics kept by convo_pipelines (Dagster). Read-only for analysts: GRANT analytics_reader TO you.';

comment on table {analytics}.histories_sessions is
    'One row per chat session per UTC day on which it had messages (grain crew_code, session_id, activity_date). Kept by convo_pipelines from each crew''s histories table.';
comment on column {analytics}.histories_sessions.crew_code is 'Code of the crew (agent team) whose histories table holds the session (crews.code).';
comment on column {analytics}.histories_sessions.session_id is 'Chat session id from the histories table, as text (uuid, text or varchar in the source).';
comment on column {analytics}.histories_sessions.activity_date is 'UTC calendar day of the messages counted in this row (created_at at time zone UTC).';
comment on column {analytics}.histories_sessions.client_code is 'Code of the client the crew belongs to (clients.code); null when the crew has no client.';
comment on column {analytics}.histories_sessions.message_count is 'All messages of the session on this day, malformed ones included.';
comment on column {analytics}.histories_sessions.human_message_count is 'Messages of type human (the person talking to the agent) on this day.';
comment on column {analytics}.histories_sessions.ai_message_count is 'Messages of type ai (the agent''s replies, including tool calls with empty content) on this day.';
comment on column {analytics}.histories_sessions.malformed_message_count is 'Messages that are not a JSON object or whose type is missing or not one of human, ai, system, tool.';
comment on column {analytics}.histories_sessions.first_message_at is 'created_at of the session''s first message on this day (any message, malformed included).';
comment on column {analytics}.histories_sessions.last_message_at is 'created_at of the session''s last message on this day (any message, malformed included).';

comment on table {analytics}.conversation_summaries is
    'One row per chat session over all its days (grain crew_code, session_id). Kept by convo_pipelines from each crew''s histories table.';
comment on column {analytics}.conversation_summaries.crew_code is 'Code of the crew (agent team) whose histories table holds the session (crews.code).';
comment on column {analytics}.conversation_summaries.session_id is 'Chat session id from the histories table, as text (uuid, text or varchar in the source).';
comment on column {analytics}.conversation_summaries.client_code is 'Code of the client the crew belongs to (clients.code); null when the crew has no client.';
comment on column {analytics}.conversation_summaries.message_count is 'All messages of the session, malformed ones included.';
comment on column {analytics}.conversation_summaries.human_message_count is 'Messages of type human in the session.';
comment on column {analytics}.conversation_summaries.ai_message_count is 'Messages of type ai in the session (tool calls with empty content included).';
comment on column {analytics}.conversation_summaries.started_at is 'created_at of the session''s first message.';
comment on column {analytics}.conversation_summaries.ended_at is 'created_at of the session''s last message.';
comment on column {analytics}.conversation_summaries.duration_seconds is 'ended_at - started_at in seconds (0 for a one-message session).';
comment on column {analytics}.conversation_summaries.active_days is 'Number of distinct UTC days with at least one message of the session.';
comment on column {analytics}.conversation_summaries.first_human_message is 'First 200 characters of the earliest human message with non-empty content (ties on created_at: lowest id); null if none.';
comment on column {analytics}.conversation_summaries.updated_at is 'When convo_pipelines last changed this row; unchanged when a re-run finds nothing new.';

comment on view {analytics}.daily_conversation_stats is
    'One row per UTC day, client and crew (grain activity_date, client_code, crew_code): how many sessions were active and how many messages they exchanged. A view over histories_sessions.';
comment on column {analytics}.daily_conversation_stats.activity_date is 'UTC calendar day.';
comment on column {analytics}.daily_conversation_stats.client_code is 'Code of the client the crew belongs to (clients.code); null when the crew has no client.';
comment on column {analytics}.daily_conversation_stats.crew_code is 'Code of the crew (crews.code).';
comment on column {analytics}.daily_conversation_stats.sessions is 'Sessions with at least one message that day.';
comment on column {analytics}.daily_conversation_stats.messages is 'All messages that day, malformed ones included.';
comment on column {analytics}.daily_conversation_stats.human_messages is 'Messages of type human that day.';
comment on column {analytics}.daily_conversation_stats.ai_messages is 'Messages of type ai that day.';

-- Roles are cluster-wide and many databases may share one server: create it only when missing,
-- and tolerate another database's migration creating it at the same moment.
do $$
begin
    if not exists (select 1 from pg_catalog.pg_roles where rolname = 'analytics_reader') then
        create role analytics_reader nologin;
    end if;
exception when duplicate_object or unique_violation then
    null;
end
$$;
grant usage on schema {analytics} to analytics_reader;
grant select on all tables in schema {analytics} to analytics_reader;
-- Tables the project's user creates in the schema later are readable too.
alter default privileges in schema {analytics} grant select on tables to analytics_reader;
