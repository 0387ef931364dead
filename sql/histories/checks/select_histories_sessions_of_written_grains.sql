-- Every histories_sessions row sharing its grain with a row changed at or after written_since (a run's writes):
-- the changed rows from the updated_at index, then each grain's copies from the key's index.
select hs.crew_code, hs.session_id, hs.activity_date
from {analytics}.histories_sessions as hs
where (hs.crew_code, hs.session_id, hs.activity_date) in (
    select written.crew_code, written.session_id, written.activity_date
    from {analytics}.histories_sessions as written
    where written.updated_at >= %(written_since)s
)
