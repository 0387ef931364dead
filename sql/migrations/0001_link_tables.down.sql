-- Drops the link tables the project created; the source tables they point at are untouched, and a Front link table
-- the application made (adopted) stays, with its rows: only the record of its adoption goes.
drop table if exists {source}.project_conversations;
do $$
begin
    if not exists (
        select 1 from {source}.convo_pipelines_adopted_tables where table_name = 'clients_front_conversations'
    ) then
        drop table if exists {source}.clients_front_conversations;
    end if;
    if not exists (
        select 1 from {source}.convo_pipelines_adopted_tables where table_name = 'people_front_conversations'
    ) then
        drop table if exists {source}.people_front_conversations;
    end if;
end
$$;
delete from {source}.convo_pipelines_adopted_tables where migration_version = 1;
