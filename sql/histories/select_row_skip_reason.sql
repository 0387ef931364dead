-- Says why one histories row (alias history) is left out of the discovery, or null when it counts: the lateral subquery of every statement that reads a crew's rows.
-- A row without a session or a day belongs to no session-day, and a message no JSON operator can read would fail the crew's whole statement,
-- so such rows are skipped (and counted by reason) rather than written half or not at all.
-- The alias history is the embedding statement's, which this lateral subquery sees: no FROM of its own.
-- noqa: disable=RF01
select
    case
        when history.session_id is null then 'null_session_id'
        -- A btree entry holds at most about 2,700 bytes: a longer id could not be a key of the analytics tables.
        when octet_length(history.session_id::text) > 1024 then 'session_id_too_long'
        when history.created_at is null then 'null_created_at'
        -- In no partition: before the first one's window or after the last one's end.
        when
            history.created_at < %(timeline_start)s or history.created_at >= %(timeline_end)s
            then 'created_at_out_of_range'
        when history.message is null then 'null_message'
        -- An unescaped \u0000 (not an escaped backslash followed by u0000): json and text columns hold it, but jsonb
        -- refuses it and every json operator fails on the whole value. Never true for jsonb, where the check folds away.
        when
            {message_may_hold_nul}
            and strpos(history.message::text, '\u0000') > 0
            and history.message::text ~ '(^|[^\\])(\\\\)*\\u0000' then 'json_holds_nul'
        -- Only a text column's parse can give null here (an SQL null message was caught above).
        when {message} is null then 'invalid_json'
    end as skip_reason
