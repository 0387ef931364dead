-- Gives this transaction's inserts of missing links their sort back: a diff's staging turned sorting off for its hashed DISTINCT (set_hashed_distinct_settings.sql), and without it the planner reaches the (conversation, owner) order in which insert_missing_front_links.sql numbers a diff's missing links by a nested loop over every owner.
set local enable_sort to default
