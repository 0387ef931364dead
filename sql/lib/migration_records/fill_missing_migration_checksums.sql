-- Adopts the rows recorded before checksums existed: each gets the checksum of the file this code ships for it.
update {source}.convo_pipelines_migrations as record
set checksum = shipped.checksum
from unnest(%(versions)s::integer[], %(checksums)s::text[]) as shipped (version, checksum)
where
    record.version = shipped.version
    and record.checksum is null;
