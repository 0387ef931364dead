-- Counts every row of one link table.
select count(*) as row_count from {source}.{links}
