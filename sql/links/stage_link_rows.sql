-- Computes the rows a link table's first fill loads into pg_temp.link_rows_staged (dropped at commit), from the table's oracle query.
-- A CREATE TABLE AS, because PostgreSQL plans it in parallel (an INSERT ... SELECT never is): this is the
-- heavy part of a first fill, one join of every recipient of the window, DISTINCT; loading the staged
-- rows into the link table (insert_staged_link_rows.sql) is a plain copy.
create temporary table link_rows_staged on commit drop as
{rows}
