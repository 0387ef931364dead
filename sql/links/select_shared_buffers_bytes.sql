-- The server's shared buffers in bytes: how large a part of an index its writes keep in memory (a first fill's bands).
select pg_size_bytes(current_setting('shared_buffers')) as shared_buffers_bytes
