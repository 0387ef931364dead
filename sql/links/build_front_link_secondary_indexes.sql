-- Builds a Front link table's secondary indexes where they are missing: by conversation (the app's "people / clients of a conversation", the diffs' window reads, the cascade of a conversation's delete), and by owner with the conversations newest first (the app's "newest 50 conversations of a person / client").
-- The same definitions as the migrations that created them (0001, 0003); a first fill dropped the one by
-- owner while it owned the empty table. CREATE INDEX holds SHARE on the link table until commit: the app's reads go on,
-- and only the pipeline writes it. Sorting the entries in memory rather than in many runs on disk is
-- what this transaction's larger maintenance_work_mem is for.
set local maintenance_work_mem = '256MB';
create index if not exists {conversation_index}
on {source}.{links} (front_conversation_id);
create index if not exists {newest_index}
on {source}.{links} ({owner}, front_conversation_created_at desc, front_conversation_id desc)
