-- Drops the conversations' created_at copied into the Front link tables (and its indexes with it).
alter table {source}.clients_front_conversations drop column if exists front_conversation_created_at;
alter table {source}.people_front_conversations drop column if exists front_conversation_created_at;
