-- Copies each Front conversation's created_at into its people and client links, with an index per owner in
-- that order, so "the newest 50 conversations of a person / client" reads 50 index entries instead of
-- fetching every conversation of the owner and sorting them.
-- On a table the application made (adopted), only the column is added here, nullable so that the app's own
-- inserts, which do not name it, keep working: the first backfill fills it, and 0010 builds its index
-- concurrently.
do $$
declare
    link record;
begin
    for link in
        select
            front_table.table_name,
            front_table.owner_column,
            front_table.table_name || '_' || front_table.owner_kind || '_newest_idx' as newest_index,
            exists (
                select 1 from {source}.convo_pipelines_adopted_tables as adopted
                where adopted.table_name = front_table.table_name
            ) as adopted
        from (
            values
            ('people_front_conversations', 'person_id', 'person'),
            ('clients_front_conversations', 'client_id', 'client')
        ) as front_table (table_name, owner_column, owner_kind)
    loop
        if link.adopted then
            execute format(
                'alter table %I.%I add column if not exists front_conversation_created_at timestamptz',
                '{source}'::regnamespace, link.table_name
            );
            update {source}.convo_pipelines_adopted_tables
            set added = concat_ws(', ', nullif(added, ''), 'column front_conversation_created_at')
            where table_name = link.table_name;
        else
            execute format(
                'alter table %I.%I add column front_conversation_created_at timestamptz',
                '{source}'::regnamespace, link.table_name
            );
            execute format(
                'update %I.%I as link set front_conversation_created_at = conversation.created_at '
                'from %I.front_conversations as conversation where conversation.id = link.front_conversation_id',
                '{source}'::regnamespace, link.table_name, '{source}'::regnamespace
            );
            execute format(
                'alter table %I.%I alter column front_conversation_created_at set not null',
                '{source}'::regnamespace, link.table_name
            );
            execute format(
                'create index %I on %I.%I (%I, front_conversation_created_at desc, front_conversation_id desc)',
                link.newest_index, '{source}'::regnamespace, link.table_name, link.owner_column
            );
        end if;
    end loop;
end
$$;
comment on column {source}.people_front_conversations.front_conversation_created_at is
    'front_conversations.created_at of the conversation, copied so a person''s newest conversations are one index range scan.';
comment on column {source}.clients_front_conversations.front_conversation_created_at is
    'front_conversations.created_at of the conversation, copied so a client''s newest conversations are one index range scan.';
