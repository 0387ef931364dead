-- Drops every table of many_crews_drop_list. Run without parameters: the DO block reads the list.
do $many_crews$
declare
    listed record;
begin
    for listed in select * from pg_temp.many_crews_drop_list loop
        execute format('drop table %I.%I', listed.source_schema, listed.table_name);
    end loop;
end
$many_crews$
