-- Builds a Front link table's index by owner with the conversations newest first (the app's "newest 50 conversations of a person / client") when it is missing.
-- The same definition as the migration that created it (0003); a first fill dropped it while it owned the empty
-- table, and builds it by one sort once its rows are in. CREATE INDEX holds SHARE on the link table until commit:
-- the app's reads go on, and only the pipeline writes it. Sorting the entries in memory rather than in many runs
-- on disk is what this transaction's larger maintenance_work_mem is for.
set local maintenance_work_mem = '256MB';
create index if not exists {newest_index}
on {source}.{links} ({owner}, front_conversation_created_at desc, front_conversation_id desc)
