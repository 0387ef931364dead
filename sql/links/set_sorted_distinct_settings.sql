-- Makes the rest of this transaction's DISTINCT of defined pairs sorted rather than hashed: a first fill's (stage_front_link_first_fill.sql), so that the pairs come out of it already in the order they are numbered in, and a small window's diff (stage_link_rows.sql), whose workers then each dedup their part.
-- Sorted, each parallel worker sorts and dedups its part and the leader merges them in order: the definition
-- lists the conversation first, so that order is the numbering's, and the windows need no sort of their own.
-- Hashed (the planner's pick at a million conversations), the DISTINCT runs in the leader alone, and its
-- output is then sorted again, on disk, before it can be numbered.
set local enable_hashagg = off
