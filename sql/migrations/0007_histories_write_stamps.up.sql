-- Stamps every histories_sessions row with when convo_pipelines last changed it (as conversation_summaries already
-- does), and indexes both stamps, so the checks that follow a run read only the rows that run changed: a discovery
-- tick writes a few rows of a day that may hold hundreds of thousands. Existing rows take the migration's time,
-- written by an UPDATE rather than a volatile column default, so a logical subscriber receives the same stamps.
alter table {analytics}.histories_sessions add column updated_at timestamptz;
update {analytics}.histories_sessions set updated_at = now();
alter table {analytics}.histories_sessions
    alter column updated_at set default now(),
    alter column updated_at set not null;
comment on column {analytics}.histories_sessions.updated_at is
    'When convo_pipelines last changed this row; unchanged when a re-run finds nothing new.';
create index histories_sessions_updated_at_idx on {analytics}.histories_sessions (updated_at);
create index conversation_summaries_updated_at_idx on {analytics}.conversation_summaries (updated_at);
