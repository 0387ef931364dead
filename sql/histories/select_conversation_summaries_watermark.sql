-- Finds the newest message time the summaries of sessions begun in the window's day of one crew (alias crew, the embedding statement's) account for; null when there is none.
-- Only sessions begun that day: only runs covering the day write them, and each read all of its committed messages,
-- whereas a run of an earlier day also rewrites sessions continuing into this one without reading its other sessions.
-- Summaries ending after now (a writer's clock ahead) are left out: they would hide messages written since.
-- Served backwards by the (crew_code, ended_at) index, which includes started_at.
-- day_written: whether the crew has a summary ending in the day, which only a run that read the crew's day wrote.
-- noqa: disable=RF01
select
    max(summary.ended_at) as watermark,
    -- A max rather than exists: a max is planned as one backward step of the index, whereas an exists, expecting an
    -- average crew's share of rows, may be planned as a scan of the table, which reads all of it for a crew without one.
    (
        select max(written.ended_at)
        from {analytics}.conversation_summaries as written
        where
            written.crew_code = crew.crew_code
            and written.ended_at >= %(window_start)s
            and written.ended_at < %(window_end)s
    ) is not null as day_written
from {analytics}.conversation_summaries as summary
where
    summary.crew_code = crew.crew_code
    and summary.ended_at >= %(window_start)s
    and summary.ended_at < %(window_end)s
    and summary.ended_at <= now()
    and summary.started_at >= %(window_start)s
