-- Computes a window's defined pairs into {analytics}.{window_staged}, which the diff's transaction drops before it commits: what create_front_link_differences.sql compares with the stored links.
-- A CREATE TABLE AS, because PostgreSQL plans it in parallel (an INSERT ... SELECT never is): this is the
-- heavy part of a diff, one join of every recipient of the window, DISTINCT. An unlogged table rather than a
-- temporary one, because parallel workers cannot read a temporary table: the diff's full join of these pairs
-- with the stored links then runs in parallel too. Created and dropped in one transaction, it is never
-- visible to another session, never published to a logical subscriber (unlogged), and a killed run leaves
-- nothing of it: its transaction's rollback removes it.
create unlogged table {analytics}.{window_staged} as
{rows}
