-- Records the indexes the concurrent builds added to each Front link table the application made (adopted), and gives it the foreign keys it lacks: nothing else of the app's table changes.
-- A foreign key is added only where the table has none on that column to that table: a key of the app's is kept
-- whatever its ON DELETE (a non-cascading one means the app deletes the links first, as Rails'
-- `dependent: :delete_all` does). A missing one is added NOT VALID (a moment of SHARE ROW EXCLUSIVE on the
-- referenced table, under the migrations' short lock_timeout, retried), the links to rows already gone are
-- deleted, and it is validated, which blocks neither reads nor writes.
do $$
declare
    adopted record;
    wanted record;
begin
    for adopted in
        select
            table_name,
            case table_name when 'people_front_conversations' then 'person' else 'client' end as owner_kind,
            case table_name when 'people_front_conversations' then 'person_id' else 'client_id' end as owner_column,
            case table_name when 'people_front_conversations' then 'people' else 'clients' end as owner_table
        from {source}.convo_pipelines_adopted_tables
        where table_name in ('people_front_conversations', 'clients_front_conversations')
    loop
        update {source}.convo_pipelines_adopted_tables as record
        set added = concat_ws(', ', nullif(record.added, ''), (
            select string_agg('index ' || index_row.relname, ', ' order by index_row.relname)
            from pg_catalog.pg_class as index_row
            where
                index_row.relnamespace = '{source}'::regnamespace
                and index_row.relname in (
                    adopted.table_name || '_conversation_' || adopted.owner_kind || '_key',
                    adopted.table_name || '_' || adopted.owner_kind || '_newest_idx'
                )
                and 'index ' || index_row.relname != all(string_to_array(record.added, ', '))
        ))
        where record.table_name = adopted.table_name;

        for wanted in
            select
                key_column,
                referenced_table,
                adopted.table_name || '_' || key_column || '_fkey' as constraint_name
            from (
                values
                (adopted.owner_column, adopted.owner_table),
                ('front_conversation_id', 'front_conversations')
            ) as keys (key_column, referenced_table)
            where not exists (
                select 1
                from pg_catalog.pg_constraint as key_row
                inner join pg_catalog.pg_attribute as column_row
                    on
                        column_row.attrelid = key_row.conrelid
                        and column_row.attnum = key_row.conkey[1]
                where
                    key_row.contype = 'f'
                    and key_row.conrelid = format('%I.%I', '{source}'::regnamespace, adopted.table_name)::regclass
                    and key_row.confrelid = format('%I.%I', '{source}'::regnamespace, keys.referenced_table)::regclass
                    and column_row.attname = keys.key_column
            )
        loop
            execute format(
                'alter table %I.%I add constraint %I foreign key (%I) references %I.%I (id) on delete cascade not valid',
                '{source}'::regnamespace, adopted.table_name, wanted.constraint_name, wanted.key_column,
                '{source}'::regnamespace, wanted.referenced_table
            );
            execute format(
                'delete from %I.%I as link where not exists (select 1 from %I.%I as referenced where referenced.id = link.%I)',
                '{source}'::regnamespace, adopted.table_name,
                '{source}'::regnamespace, wanted.referenced_table, wanted.key_column
            );
            execute format(
                'alter table %I.%I validate constraint %I',
                '{source}'::regnamespace, adopted.table_name, wanted.constraint_name
            );
            update {source}.convo_pipelines_adopted_tables
            set added = concat_ws(', ', nullif(added, ''), 'foreign key ' || wanted.constraint_name)
            where table_name = adopted.table_name;
        end loop;
    end loop;
end
$$;
