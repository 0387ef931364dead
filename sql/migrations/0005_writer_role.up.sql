-- Creates the NOLOGIN role convo_pipelines_writer holding exactly what runs need, and gives it the project's objects.
-- Runs read the source tables and the crews' histories tables (SELECT), add the link tables' foreign keys on their
-- first fill (REFERENCES on the referenced tables), and write, ANALYZE and VALIDATE only what the project owns,
-- which the role owns: the link tables, the migrations record (runs read it to check the schema is current) and
-- the analytics schema with all in it. It gets no write, ALTER or index on a source table and no CREATE in the
-- source schema. A DBA grants it to the LOGIN role runs connect as (README, "Deploying on your database").

-- Roles are cluster-wide and many databases may share one server: create it only when missing,
-- and tolerate another database's migration creating it at the same moment.
do $$
begin
    if not exists (select 1 from pg_catalog.pg_roles where rolname = 'convo_pipelines_writer') then
        create role convo_pipelines_writer nologin;
    end if;
exception when duplicate_object or unique_violation then
    null;
end
$$;

-- ALTER ... OWNER TO and ALTER DEFAULT PRIVILEGES FOR ROLE need the migrating role to be able to SET ROLE
-- to the new owner (superusers always can). On PostgreSQL 16 a CREATEROLE role that created the role holds
-- only ADMIN on it (no SET), which counts as membership: ask for SET there, for membership before 16.
do $$
begin
    if current_setting('server_version_num')::integer >= 160000 then
        if not pg_has_role(current_user, 'convo_pipelines_writer', 'SET') then
            grant convo_pipelines_writer to current_user;
        end if;
    elsif not pg_has_role(current_user, 'convo_pipelines_writer', 'MEMBER') then
        grant convo_pipelines_writer to current_user;
    end if;
end
$$;

-- A non-superuser may give a table only to a role that could create it in its schema, and a schema only
-- to a role that could create it in the database: the role gets CREATE on both for the transfer, and
-- loses it right after unless it already had it.
do $$
declare
    lends_schema_create boolean := false;
    lends_database_create boolean := false;
    statement text;
begin
    if not (select rolsuper from pg_catalog.pg_roles where rolname = current_user) then
        lends_schema_create := not has_schema_privilege('convo_pipelines_writer', '{source}'::regnamespace, 'CREATE');
        lends_database_create := not has_database_privilege('convo_pipelines_writer', current_database(), 'CREATE');
    end if;
    if lends_schema_create then
        grant create on schema {source} to convo_pipelines_writer;
    end if;
    if lends_database_create then
        execute format('grant create on database %I to convo_pipelines_writer', current_database());
    end if;

    -- A Front link table the application made stays the application's: its next migration of it must still
    -- work. The role gets what runs do to it instead (below).
    for statement in
        select format('alter table %I.%I owner to convo_pipelines_writer', '{source}'::regnamespace, link_table)
        from unnest(array['people_front_conversations', 'clients_front_conversations']) as link_table
        where not exists (
            select 1 from {source}.convo_pipelines_adopted_tables as adopted where adopted.table_name = link_table
        )
    loop
        execute statement;
    end loop;
    alter table {source}.project_conversations owner to convo_pipelines_writer;
    alter table {source}.convo_pipelines_migrations owner to convo_pipelines_writer;
    alter schema {analytics} owner to convo_pipelines_writer;
    -- Every relation and routine of the analytics schema, not a fixed list: whatever a later migration put
    -- there follows. A sequence owned by a column follows its table (it cannot be given away alone).
    for statement in
        select format(
            'alter %s %I.%I owner to convo_pipelines_writer',
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
        -- parse_json_or_null is owner-only (EXECUTE revoked from PUBLIC) and runs call it for text message columns.
        select format('alter routine %s owner to convo_pipelines_writer', proc.oid::regprocedure)
        from pg_catalog.pg_proc as proc
        where proc.pronamespace = '{analytics}'::regnamespace
    loop
        execute statement;
    end loop;

    if lends_schema_create then
        revoke create on schema {source} from convo_pipelines_writer;
    end if;
    if lends_database_create then
        execute format('revoke create on database %I from convo_pipelines_writer', current_database());
    end if;
end
$$;

-- What the runs read: the source tables (sql/links, sql/links/checks, sql/links/sensor, sql/histories).
grant usage on schema {source} to convo_pipelines_writer;
grant select on
    {source}.clients,
    {source}.people,
    {source}.contact_methods,
    {source}.front_conversations,
    {source}.front_messages,
    {source}.front_message_recipients,
    {source}.users,
    {source}.projects,
    {source}.conversations,
    {source}.crews
to convo_pipelines_writer;
-- The link tables' foreign keys point at these (added by a run on the first fill).
grant references on
    {source}.people,
    {source}.clients,
    {source}.front_conversations,
    {source}.projects,
    {source}.conversations,
    {source}.users
to convo_pipelines_writer;

-- Each crew's histories table that exists now; a crew's table created later needs its own GRANT (the
-- histories_tables_valid check names it). Names come from data: only valid identifiers, always quoted.
do $$
declare
    histories_table text;
begin
    for histories_table in
        select format('%I.%I', nsp.nspname, rel.relname)
        from {source}.crews as crew
        join pg_catalog.pg_class as rel
            on rel.relname = crew.histories_table_name
        join pg_catalog.pg_namespace as nsp
            on nsp.oid = rel.relnamespace
        where crew.histories_table_name ~ '^[a-z_][a-z0-9_]{{0,62}}$'
          and nsp.oid = '{source}'::regnamespace
          and rel.relkind in ('r', 'p', 'v', 'm', 'f')
    loop
        execute format('grant select on %s to convo_pipelines_writer', histories_table);
    end loop;
end
$$;

-- What runs do to a Front link table the application made (adopted): read it and write its rows.
do $$
declare
    adopted_table text;
begin
    for adopted_table in
        select format('%I.%I', '{source}'::regnamespace, adopted.table_name)
        from {source}.convo_pipelines_adopted_tables as adopted
    loop
        execute format('grant select, insert, update, delete on %s to convo_pipelines_writer', adopted_table);
    end loop;
end
$$;

-- 0002 made tables the migrating role creates in the analytics schema readable by analytics_reader;
-- the same for the tables their new owner creates there.
alter default privileges for role convo_pipelines_writer in schema {analytics}
    grant select on tables to analytics_reader;
