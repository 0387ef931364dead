-- Lists each crew of an array of codes with its watermark, the lateral query bound in as a file (select_histories_sessions_watermark.sql
-- or select_conversation_summaries_watermark.sql): the newest message time an asset's rows of the run's day account for.
select
    crew.crew_code,
    crew_watermark.watermark
from unnest(%(crew_codes)s::text[]) as crew (crew_code)
cross join lateral ({watermark}) as crew_watermark -- noqa: ST05
