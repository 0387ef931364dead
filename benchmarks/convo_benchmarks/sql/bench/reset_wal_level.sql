-- Takes wal_level back to the server's configuration file at its next start, once the bench is done with its subscriber.
alter system reset wal_level
