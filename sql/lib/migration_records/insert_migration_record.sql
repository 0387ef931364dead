-- Records one migration as applied, with the checksum of the file it was applied from.
insert into {source}.convo_pipelines_migrations (version, name, checksum)
values (%(version)s, %(name)s, %(checksum)s);
