-- Deletes the conversation_summaries rows overlapping the window whose crew is no longer in the crews table.
delete from {analytics}.conversation_summaries as summary
where
    summary.ended_at >= %(window_start)s
    and summary.started_at < %(window_end)s
    and not exists (select 1 from {source}.crews as crew where crew.code = summary.crew_code)
