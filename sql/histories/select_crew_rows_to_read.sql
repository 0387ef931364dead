-- Names one crew (its code bound as a value) when its histories table has a row dated from the crew's scan start (crew_scans,
-- the embedding statement's) to the window's end: a created_at range probe that stops at the first row.
select crew_scan.crew_code
from crew_scans as crew_scan
where
    crew_scan.crew_code = {crew_code}
    and exists (
        select 1
        from {source}.{histories_table} as history
        where
            history.created_at >= crew_scan.scan_start
            and history.created_at < %(window_end)s
    )
