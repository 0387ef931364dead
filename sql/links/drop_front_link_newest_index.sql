-- Drops a never-filled Front link table's index by owner with the conversations newest first, so that its first fill need not keep it up row by row; build_front_link_secondary_indexes.sql builds it after.
-- Kept up row by row, it takes each chunk's links on random pages once it outgrows the server's buffers
-- (each chunk's owners are spread over all of them). The index by conversation stays, though random too:
-- without it the app's reads of a conversation's people or clients scan the table, which beside the bench's
-- app workload took more from the fill than the index costs it. DROP INDEX takes ACCESS EXCLUSIVE on the
-- empty table for a moment, under the caller's short lock_timeout.
drop index {source}.{newest_index}
