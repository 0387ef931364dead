-- Records one table a migration adopts (made by the application before it), with the application's owner of it.
insert into {source}.convo_pipelines_adopted_tables (table_name, migration_version, table_owner)
select
    %(table_name)s::text as table_name,
    %(version)s as migration_version,
    table_row.tableowner::text as table_owner
from pg_catalog.pg_tables as table_row
where
    table_row.schemaname = %(schema)s::text
    and table_row.tablename = %(table_name)s::text
on conflict (table_name) do nothing
