-- Restores the (crew_code, activity_date) index of histories_sessions that 0004 extended.
create index histories_sessions_crew_code_activity_date_idx
    on {analytics}.histories_sessions (crew_code, activity_date);
drop index {analytics}.histories_sessions_crew_code_activity_date_last_message_at_idx;
