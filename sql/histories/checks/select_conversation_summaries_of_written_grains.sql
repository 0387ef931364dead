-- Every conversation_summaries row sharing its grain with a row changed at or after written_since (a run's writes):
-- the changed rows from the updated_at index, then each grain's copies from the key's index.
select
    summary.crew_code,
    summary.session_id
from {analytics}.conversation_summaries as summary
where (summary.crew_code, summary.session_id) in (
    select
        written.crew_code,
        written.session_id
    from {analytics}.conversation_summaries as written
    where written.updated_at >= %(written_since)s
)
