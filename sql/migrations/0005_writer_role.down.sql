-- Gives the project's objects back to the migrating role and revokes convo_pipelines_writer's grants in this database; the role itself stays.
-- convo_pipelines_writer is cluster-wide and other databases on the server may still use it: dropping it here
-- would fail (or break them), so an administrator drops it by hand once no database uses it. The migrating
-- role also keeps the membership 0005 may have given it (it cannot tell whether 0005 or a DBA granted it).
alter default privileges for role convo_pipelines_writer in schema {analytics}
    revoke select on tables from analytics_reader;

do $$
declare
    statement text;
begin
    alter schema {analytics} owner to current_user;
    for statement in
        select format(
            'alter %s %I.%I owner to current_user',
            case rel.relkind
                when 'v' then 'view'
                when 'm' then 'materialized view'
                when 'S' then 'sequence'
                when 'f' then 'foreign table'
                else 'table'
            end,
            nsp.nspname,
            rel.relname
        )
        from pg_catalog.pg_class as rel
        join pg_catalog.pg_namespace as nsp
            on nsp.oid = rel.relnamespace
        where nsp.oid = '{analytics}'::regnamespace
          and rel.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
          and not exists (
              select 1
              from pg_catalog.pg_depend as dep
              where dep.classid = 'pg_catalog.pg_class'::regclass
                and dep.objid = rel.oid
                and dep.refclassid = 'pg_catalog.pg_class'::regclass
                and dep.deptype in ('a', 'i')
                and rel.relkind = 'S'
          )
        union all
        select format('alter routine %s owner to current_user', proc.oid::regprocedure)
        from pg_catalog.pg_proc as proc
        where proc.pronamespace = '{analytics}'::regnamespace
    loop
        execute statement;
    end loop;
end
$$;
alter table {source}.convo_pipelines_migrations owner to current_user;
alter table {source}.project_conversations owner to current_user;
do $$
declare
    link_table text;
begin
    for link_table in
        select unnest(array['people_front_conversations', 'clients_front_conversations'])
    loop
        if exists (
            select 1 from {source}.convo_pipelines_adopted_tables as adopted where adopted.table_name = link_table
        ) then
            execute format(
                'revoke insert, update, delete on %I.%I from convo_pipelines_writer',
                '{source}'::regnamespace,
                link_table
            );
        else
            execute format('alter table %I.%I owner to current_user', '{source}'::regnamespace, link_table);
        end if;
    end loop;
end
$$;

-- Every SELECT and REFERENCES of the role in the source schema: the source tables and the histories tables.
revoke select, references on all tables in schema {source} from convo_pipelines_writer;
revoke usage on schema {source} from convo_pipelines_writer;
