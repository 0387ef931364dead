-- Lists the crews (their codes bound as an array) whose histories table has a row an incremental run would read, each probed
-- by its own branch bound in below (select_crew_rows_to_read.sql, one per crew, joined by union all): one statement for many
-- crews, so a tick spends no transaction, lock or merge on a crew with nothing new.
-- A crew's rows are read from its scan start: the asset's watermark less the late-commit overlap, or, when the asset has
-- rows of the crew's day (day_written) and the previous run of the day read the crew, that run's start less the overlap
-- (every row dated before it had committed by then, so that run read it); a crew whose day the asset never wrote (a crew
-- added since, say) is read from the window's start.
-- The probes bound in below read crew_scans, which sqlfluff cannot see.
with crew_scans as materialized ( -- noqa: ST03
    select
        crew.crew_code,
        greatest(
            %(window_start)s,
            crew_watermark.watermark - %(late_commit_overlap)s,
            case when crew_watermark.day_written then crew.read_since - %(late_commit_overlap)s end
        ) as scan_start
    from unnest(%(crew_codes)s::text[], %(read_since)s::timestamptz[]) as crew (crew_code, read_since)
    cross join lateral ({watermark}) as crew_watermark -- noqa: ST05
)

{crew_probes}
