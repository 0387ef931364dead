-- Drops the analytics objects and revokes analytics_reader's grants in this database; the role itself stays.
-- analytics_reader is cluster-wide and other databases on the server may still grant it: dropping it here
-- would fail (or break them), so an administrator drops it by hand once no database uses it.
alter default privileges in schema {analytics} revoke select on tables from analytics_reader;
revoke select on all tables in schema {analytics} from analytics_reader;
revoke usage on schema {analytics} from analytics_reader;
drop view if exists {analytics}.daily_conversation_stats;
drop table if exists {analytics}.conversation_summaries;
drop table if exists {analytics}.histories_sessions;
drop function if exists {analytics}.parse_json_or_null(text);
-- Restrict, not cascade: if anything else lives in the schema, stop rather than drop someone's work.
drop schema if exists {analytics} restrict;
