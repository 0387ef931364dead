-- Drops a never-filled Front link table's index by owner with the conversations newest first, so that its first fill need not keep it up row by row; build_front_link_newest_index.sql builds it after.
-- A fill inserts in conversation order: the primary key and the unique pair led by the conversation take its
-- rows at their right edge, but this index would take each one on a random page once it outgrows the server's
-- buffers. The unique pair stays: the app reads a conversation's people or clients through it during the fill.
-- DROP INDEX takes ACCESS EXCLUSIVE on the empty table for a moment, under the caller's short lock_timeout.
drop index {source}.{newest_index}
