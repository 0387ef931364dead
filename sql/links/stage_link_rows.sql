-- Computes a link table's rows from its oracle query into pg_temp.link_rows_staged (dropped at commit): the rows a first fill in place copies in, or the oracle pairs a diff compares with the stored links.
-- A CREATE TABLE AS, because PostgreSQL plans it in parallel (an INSERT ... SELECT never is): this is the
-- heavy part of a fill or a diff, one join of every recipient of the window, DISTINCT; what follows
-- (insert_staged_link_rows.sql, create_front_link_differences.sql) reads the staged rows.
create temporary table link_rows_staged on commit drop as
{rows}
