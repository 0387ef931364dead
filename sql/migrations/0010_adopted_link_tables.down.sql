-- Removes from each Front link table the application made (adopted) exactly what 0010 added to it (its record says what): the app's own indexes and keys stay.
-- Each drop takes ACCESS EXCLUSIVE for a moment (a key's also on the table it references), under the migrations'
-- short lock_timeout, retried.
do $$
declare
    adopted record;
    item text;
begin
    for adopted in
        select table_name, added
        from {source}.convo_pipelines_adopted_tables
        where table_name in ('people_front_conversations', 'clients_front_conversations')
    loop
        foreach item in array string_to_array(adopted.added, ', ') loop
            if item like 'index %' then
                execute format('drop index if exists %I.%I', '{source}'::regnamespace, substr(item, 7));
            elsif item like 'foreign key %' then
                execute format(
                    'alter table %I.%I drop constraint if exists %I',
                    '{source}'::regnamespace, adopted.table_name, substr(item, 13)
                );
            end if;
        end loop;
        update {source}.convo_pipelines_adopted_tables
        set added = coalesce((
            select string_agg(kept, ', ')
            from unnest(string_to_array(added, ', ')) as kept
            where kept not like 'index %' and kept not like 'foreign key %'
        ), '')
        where table_name = adopted.table_name;
    end loop;
end
$$;
