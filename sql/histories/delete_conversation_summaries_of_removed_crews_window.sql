-- Deletes the conversation_summaries rows overlapping the window whose crew is no longer in the crews table.
delete from {analytics}.conversation_summaries as cs
where cs.ended_at >= %(window_start)s
  and cs.started_at < %(window_end)s
  and not exists (select 1 from {source}.crews as cr where cr.code = cs.crew_code)
