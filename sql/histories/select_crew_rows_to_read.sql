-- Names one crew (its code bound as a value) when its histories table has a row dated from the crew's scan start
-- (select_crew_scan_starts.sql, bound as a value) to the window's end: one branch of select_crews_with_rows_to_read.sql.
-- Ordered by created_at so that the plan is a range scan of the created_at index that stops at its first row: a plan
-- stopping at the first row of a sequential scan, chosen when many rows are expected, reads every older row first.
select {crew} as crew_code
from {source}.{histories_table} as history
where
    history.created_at >= {scan_start}
    and history.created_at < %(window_end)s
order by history.created_at
limit 1
