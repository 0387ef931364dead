-- Loads the staged rows (pg_temp.link_rows_staged: the oracle's columns) into a never-filled link table filled in place; the table's other columns take their defaults.
insert into {source}.{links} ({columns})
select {columns}
from pg_temp.link_rows_staged
