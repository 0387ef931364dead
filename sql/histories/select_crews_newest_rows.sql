-- Lists, in one array in the order they are bound, the greatest value of many crews' histories tables' indexed column:
-- one probe per crew bound in below (select_crew_newest_row.sql, each in parentheses, joined by commas), so that one
-- statement probes many crews without a plan per row: what the discovery sensor compares with its cursor at every tick.
select array[{newest_row_probes}]::text[] as newest_rows
