-- Drops the three link tables; the source tables they point at are untouched.
drop table if exists {source}.project_conversations;
drop table if exists {source}.clients_front_conversations;
drop table if exists {source}.people_front_conversations;
