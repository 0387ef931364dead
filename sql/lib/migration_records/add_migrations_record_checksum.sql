-- Adds the sha256 of each applied migration's .up.sql text; rows recorded before it existed hold NULL until adopted.
alter table {source}.convo_pipelines_migrations add column if not exists checksum text;
