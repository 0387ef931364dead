-- Gives each Front link table back its unique pair led by the owner (built concurrently before this transaction) in place of the one led by the conversation; a table the application made (adopted) keeps its own.
do $$
declare
    link record;
begin
    for link in
        select front_table.table_name, front_table.owner_kind
        from (
            values ('people_front_conversations', 'person'), ('clients_front_conversations', 'client')
        ) as front_table (table_name, owner_kind)
        where not exists (
            select 1 from {source}.convo_pipelines_adopted_tables as adopted
            where adopted.table_name = front_table.table_name
        )
    loop
        execute format(
            'alter table %I.%I drop constraint %I, add constraint %I unique using index %I',
            '{source}'::regnamespace, link.table_name,
            link.table_name || '_conversation_' || link.owner_kind || '_key',
            link.table_name || '_' || link.owner_kind || '_conversation_key',
            link.table_name || '_' || link.owner_kind || '_conversation_key'
        );
    end loop;
end
$$;
