-- Drops the write stamp of histories_sessions that 0007 added, and the indexes on both tables' stamps.
drop index {analytics}.conversation_summaries_updated_at_idx;
drop index {analytics}.histories_sessions_updated_at_idx;
alter table {analytics}.histories_sessions drop column updated_at;
