-- Has the embedded server write logical WAL from its next start, for the bench's logical subscriber (only on a server the bench started).
alter system set wal_level = logical
