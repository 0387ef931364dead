-- Finds the newest message time one crew's summaries of sessions begun in the window's day account for; null when there is none.
-- Only sessions begun that day: only runs covering the day write them, and each read all of its committed messages,
-- whereas a run of an earlier day also rewrites sessions continuing into this one without reading its other sessions.
-- Summaries ending after now (a writer's clock ahead) are left out: they would hide messages written since.
-- Served backwards by the (crew_code, ended_at) index, which includes started_at.
select max(cs.ended_at) as watermark
from {analytics}.conversation_summaries as cs
where cs.crew_code = %(crew_code)s
  and cs.ended_at >= %(window_start)s
  and cs.ended_at < %(window_end)s
  and cs.ended_at <= now()
  and cs.started_at >= %(window_start)s
