-- Makes each Front link table's unique pair lead with the conversation, and drops the index by conversation it makes redundant.
-- One index then keeps the pairs unique and serves the app's "people / clients of a conversation", a window's
-- reads and the cascades of a conversation's delete (ON CONFLICT (person_id, front_conversation_id) infers it:
-- PostgreSQL matches a unique index by its set of columns). A first fill inserts its pairs in conversation
-- order, so this index and the primary key grow at their right edge. The index was built concurrently before
-- this transaction (the .up.concurrent.sql file); here the constraint is swapped onto it, which takes ACCESS
-- EXCLUSIVE on the link table for a moment, under the migrations' short lock_timeout, retried.
-- A table the application made (adopted) keeps its own indexes: its unique pair and its index by conversation
-- already give both, so the concurrent build found them and built nothing there.
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
            link.table_name || '_' || link.owner_kind || '_conversation_key',
            link.table_name || '_conversation_' || link.owner_kind || '_key',
            link.table_name || '_conversation_' || link.owner_kind || '_key'
        );
        execute format(
            'drop index if exists %I.%I', '{source}'::regnamespace, link.table_name || '_front_conversation_id_idx'
        );
    end loop;
end
$$;
