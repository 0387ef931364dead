-- Makes one crew's histories_sessions rows equal to a set of session-days, from ALL the messages of each, bound in as a file:
-- a full run's are every message of the window (select_window_messages.sql), an incremental run's the session-days with new messages (select_new_session_day_messages.sql).
-- With replace_window (a full run: every message of the window), the crew's rows of the window's days without a message are deleted too;
-- without it (an incremental run: a few session-days of one day), the crew's other rows of the day stay.
-- Rows that did not change are left alone; the others are stamped updated_at = now(), which the checks after a run read. The bound file's skipped rows (skip_reason not null: select_row_skip_reason.sql)
-- are counted by reason, never written.
with day_messages as (
    {day_messages}
),

-- One pass over the rows: a group per session-day of the rows that count, one per reason of the rows skipped.
row_groups as (
    select
        day_message.skip_reason,
        case when day_message.skip_reason is null then day_message.session_id end as session_id,
        case when day_message.skip_reason is null then day_message.activity_date end as activity_date,
        count(*)::integer as message_count,
        (count(*) filter (where day_message.message_type = 'human'))::integer as human_message_count,
        (count(*) filter (where day_message.message_type = 'ai'))::integer as ai_message_count,
        (count(*) filter (
            where day_message.message_type is null or day_message.message_type not in ('human', 'ai', 'system', 'tool')
        ))::integer as malformed_message_count,
        min(day_message.created_at) as first_message_at,
        max(day_message.created_at) as last_message_at
    from day_messages as day_message
    group by 1, 2, 3
),

session_days as (
    select
        row_group.session_id,
        row_group.activity_date,
        row_group.message_count,
        row_group.human_message_count,
        row_group.ai_message_count,
        row_group.malformed_message_count,
        row_group.first_message_at,
        row_group.last_message_at
    from row_groups as row_group
    where row_group.skip_reason is null
),

upserted as (
    insert into {analytics}.histories_sessions as histories_session (
        crew_code, session_id, activity_date, client_code, message_count, human_message_count,
        ai_message_count, malformed_message_count, first_message_at, last_message_at, updated_at
    )
    select
        %(crew_code)s as crew_code,
        session_day.session_id,
        session_day.activity_date,
        %(client_code)s as client_code,
        session_day.message_count,
        session_day.human_message_count,
        session_day.ai_message_count,
        session_day.malformed_message_count,
        session_day.first_message_at,
        session_day.last_message_at,
        now() as updated_at
    from session_days as session_day
    on conflict (crew_code, session_id, activity_date) do update
        set
            client_code = excluded.client_code,
            message_count = excluded.message_count,
            human_message_count = excluded.human_message_count,
            ai_message_count = excluded.ai_message_count,
            malformed_message_count = excluded.malformed_message_count,
            first_message_at = excluded.first_message_at,
            last_message_at = excluded.last_message_at,
            updated_at = excluded.updated_at
        where (
            histories_session.client_code,
            histories_session.message_count,
            histories_session.human_message_count,
            histories_session.ai_message_count,
            histories_session.malformed_message_count,
            histories_session.first_message_at,
            histories_session.last_message_at
        ) is distinct from (
            excluded.client_code,
            excluded.message_count,
            excluded.human_message_count,
            excluded.ai_message_count,
            excluded.malformed_message_count,
            excluded.first_message_at,
            excluded.last_message_at
        )
    returning (histories_session.xmax = 0) as inserted
),

deleted as (
    delete from {analytics}.histories_sessions as histories_session
    where
        %(replace_window)s
        and histories_session.crew_code = %(crew_code)s
        and histories_session.activity_date >= %(first_day)s
        and histories_session.activity_date < %(end_day)s
        and not exists (
            select 1
            from session_days as session_day
            where
                session_day.session_id = histories_session.session_id
                and session_day.activity_date = histories_session.activity_date
        )
    returning 1
)

-- The window's figures come from a full run only, which read every message of the window; an
-- incremental run reads just what is new, so it reports none (null).
select
    (select count(*) from upserted as upserted_row where upserted_row.inserted) as rows_inserted,
    (select count(*) from upserted as upserted_row where not upserted_row.inserted) as rows_updated,
    (select count(*) from deleted) as rows_deleted,
    (select count(*) from session_days) as session_days_recomputed,
    (
        select coalesce(jsonb_object_agg(row_group.skip_reason, row_group.message_count), '{{}}'::jsonb)
        from row_groups as row_group
        where row_group.skip_reason is not null
    ) as skipped_rows,
    case when %(replace_window)s then (select count(*) from session_days) end as rows_in_window,
    case
        when %(replace_window)s
            then (select count(distinct session_day.session_id) from session_days as session_day)
    end as sessions,
    case
        when %(replace_window)s
            then (select coalesce(sum(session_day.message_count), 0) from session_days as session_day)
    end as messages,
    case
        when %(replace_window)s
            then (select coalesce(sum(session_day.malformed_message_count), 0) from session_days as session_day)
    end as malformed_messages
