-- Extends the (crew_code, activity_date) index of histories_sessions with last_message_at, so a discovery
-- tick finds a crew's watermark for the day (its newest last_message_at) at the end of one index range
-- instead of reading all of the crew's rows of the day; window scans use its leading columns as before.
create index histories_sessions_crew_code_activity_date_last_message_at_idx
    on {analytics}.histories_sessions (crew_code, activity_date, last_message_at);
drop index {analytics}.histories_sessions_crew_code_activity_date_idx;
