-- Drops the conversations' created_at copied into the Front link tables (and its indexes with it), adopted ones too:
-- the project added it there.
alter table {source}.clients_front_conversations drop column if exists front_conversation_created_at;
alter table {source}.people_front_conversations drop column if exists front_conversation_created_at;
update {source}.convo_pipelines_adopted_tables
set added = array_to_string(array_remove(string_to_array(added, ', '), 'column front_conversation_created_at'), ', ');
