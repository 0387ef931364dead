-- Creates the table recording which migrations are applied (one row per applied migration).
create table if not exists {source}.convo_pipelines_migrations (
    version integer primary key,
    name text not null,
    applied_at timestamptz not null default now()
);
