-- Lists each crew of an array of codes with its scan start: the time an incremental run reads its histories table from.
-- That is the asset's watermark (the lateral query bound in as a file: select_histories_sessions_watermark.sql or
-- select_conversation_summaries_watermark.sql) less the late-commit overlap, or, when the asset has rows of the crew's
-- day (day_written) and the previous run of the day read the crew (read_since, bound beside each code; null when it did
-- not), that run's start less the overlap, whichever is later: every row dated before it had committed by then, so that
-- run read it. A crew whose day the asset never wrote (a crew added since, say) is read from the window's start.
select
    crew.crew_code,
    greatest(
        %(window_start)s,
        crew_watermark.watermark - %(late_commit_overlap)s,
        case when crew_watermark.day_written then crew.read_since - %(late_commit_overlap)s end
    ) as scan_start
from unnest(%(crew_codes)s::text[], %(read_since)s::timestamptz[]) as crew (crew_code, read_since)
cross join lateral ({watermark}) as crew_watermark -- noqa: ST05
