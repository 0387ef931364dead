-- Every histories_sessions row sharing its grain with a row changed at or after written_since (a run's writes):
-- the changed rows from the updated_at index, then each grain's copies from the key's index.
select
    histories_session.crew_code,
    histories_session.session_id,
    histories_session.activity_date
from {analytics}.histories_sessions as histories_session
where (histories_session.crew_code, histories_session.session_id, histories_session.activity_date) in (
    select
        written.crew_code,
        written.session_id,
        written.activity_date
    from {analytics}.histories_sessions as written
    where written.updated_at >= %(written_since)s
)
