-- Computes a window's defined pairs into {analytics}.{window_staged}, for a table that holds none of its links yet (what insert_staged_front_links.sql inserts), dropped before the transaction commits.
-- A CREATE TABLE AS, because PostgreSQL plans it in parallel (an INSERT ... SELECT never is): the join of every
-- recipient of the window, DISTINCT. Created and dropped in one transaction, it is never visible to another
-- session, never published to a logical subscriber (unlogged), and a killed run leaves nothing of it: its
-- transaction's rollback removes it.
create unlogged table {analytics}.{window_staged} as
{rows}
