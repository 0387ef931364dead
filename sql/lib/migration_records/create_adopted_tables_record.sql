-- Creates the record of the tables a migration found already made by the application and adopted instead of creating them, with what the project added to each; a rollback removes only that.
create table if not exists {source}.convo_pipelines_adopted_tables (
    table_name text primary key,
    migration_version integer not null,
    table_owner name not null,
    adopted_at timestamptz not null default now(),
    added text[] not null default '{{}}'
);
