-- Forgets one migration after its rollback.
delete from {source}.convo_pipelines_migrations
where version = %(version)s;
