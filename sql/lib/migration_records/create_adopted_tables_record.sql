-- Creates the record of the tables a migration found already made by the application and adopted instead of creating them, with what the project added to each (a list of "column x", "index y" and "foreign key z", comma-separated); a rollback removes only that.
-- Plain text columns: zero-cache replicates every table of a schema it follows, and refuses array columns of this shape.
create table if not exists {source}.convo_pipelines_adopted_tables (
    table_name text primary key,
    migration_version integer not null,
    table_owner text not null,
    adopted_at timestamptz not null default now(),
    added text not null default ''
);
