-- The applied migrations, oldest first; the checksum is read through to_jsonb so this works before the column exists.
select
    record.version,
    record.name,
    to_jsonb(record) ->> 'checksum' as checksum
from {source}.convo_pipelines_migrations as record
order by record.version;
