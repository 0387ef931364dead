-- Removes the crews of the many-crews benchmark (code prefix %(prefix)s) and their analytics rows.
with removed_sessions as (
    delete from {analytics}.histories_sessions as histories_session
    where starts_with(histories_session.crew_code, %(prefix)s)
),

removed_summaries as (
    delete from {analytics}.conversation_summaries as summary
    where starts_with(summary.crew_code, %(prefix)s)
)

delete from {source}.crews as crew
where starts_with(crew.code, %(prefix)s)
