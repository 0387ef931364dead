-- Makes the rest of this transaction's DISTINCT of a window's defined pairs hashed rather than sorted: a window's staging for a table that holds none of its links (stage_link_rows.sql), which wants no order.
-- With sorting allowed, the DISTINCT of tens of millions of joined recipients is sorted on disk in every
-- worker (an external merge) and merged, slower than hashed in memory. A window small enough for each worker's
-- sort to fit in work_mem is sorted instead (set_sorted_distinct_settings.sql): each worker then dedups its part,
-- where the hashed DISTINCT runs in the leader alone. A first fill's staging sorts
-- instead (set_sorted_distinct_settings.sql): its pairs are numbered in the order a sorted DISTINCT gives.
set local enable_sort = off
