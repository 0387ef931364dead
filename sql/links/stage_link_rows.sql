-- Computes a window's defined pairs into pg_temp.link_rows_staged (dropped at commit): what create_front_link_differences.sql compares with the stored links.
-- A CREATE TABLE AS, because PostgreSQL plans it in parallel (an INSERT ... SELECT never is): this is the
-- heavy part of a diff, one join of every recipient of the window, DISTINCT. A temporary table, so
-- nothing of it is ever published to a logical subscriber or outlives the transaction on a pooled connection.
create temporary table link_rows_staged on commit drop as
{rows}
