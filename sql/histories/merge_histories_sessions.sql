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
        dm.skip_reason,
        case when dm.skip_reason is null then dm.session_id end as session_id,
        case when dm.skip_reason is null then dm.activity_date end as activity_date,
        count(*)::integer as message_count,
        (count(*) filter (where dm.message_type = 'human'))::integer as human_message_count,
        (count(*) filter (where dm.message_type = 'ai'))::integer as ai_message_count,
        (count(*) filter (
            where dm.message_type is null or dm.message_type not in ('human', 'ai', 'system', 'tool')
        ))::integer as malformed_message_count,
        min(dm.created_at) as first_message_at,
        max(dm.created_at) as last_message_at
    from day_messages as dm
    group by 1, 2, 3
),

session_days as (
    select
        rg.session_id,
        rg.activity_date,
        rg.message_count,
        rg.human_message_count,
        rg.ai_message_count,
        rg.malformed_message_count,
        rg.first_message_at,
        rg.last_message_at
    from row_groups as rg
    where rg.skip_reason is null
),

upserted as (
    insert into {analytics}.histories_sessions as hs (
        crew_code, session_id, activity_date, client_code, message_count, human_message_count,
        ai_message_count, malformed_message_count, first_message_at, last_message_at, updated_at
    )
    select
        %(crew_code)s, sd.session_id, sd.activity_date, %(client_code)s, sd.message_count, sd.human_message_count,
        sd.ai_message_count, sd.malformed_message_count, sd.first_message_at, sd.last_message_at, now()
    from session_days as sd
    on conflict (crew_code, session_id, activity_date) do update
    set client_code = excluded.client_code,
        message_count = excluded.message_count,
        human_message_count = excluded.human_message_count,
        ai_message_count = excluded.ai_message_count,
        malformed_message_count = excluded.malformed_message_count,
        first_message_at = excluded.first_message_at,
        last_message_at = excluded.last_message_at,
        updated_at = excluded.updated_at
    where (
        hs.client_code, hs.message_count, hs.human_message_count, hs.ai_message_count,
        hs.malformed_message_count, hs.first_message_at, hs.last_message_at
    ) is distinct from (
        excluded.client_code, excluded.message_count, excluded.human_message_count, excluded.ai_message_count,
        excluded.malformed_message_count, excluded.first_message_at, excluded.last_message_at
    )
    returning (hs.xmax = 0) as inserted
),

deleted as (
    delete from {analytics}.histories_sessions as hs
    where %(replace_window)s
      and hs.crew_code = %(crew_code)s
      and hs.activity_date >= %(first_day)s
      and hs.activity_date < %(end_day)s
      and not exists (
          select 1
          from session_days as sd
          where sd.session_id = hs.session_id
            and sd.activity_date = hs.activity_date
      )
    returning 1
)

-- The window's figures come from a full run only, which read every message of the window; an
-- incremental run reads just what is new, so it reports none (null).
select
    (select count(*) from upserted as u where u.inserted) as rows_inserted,
    (select count(*) from upserted as u where not u.inserted) as rows_updated,
    (select count(*) from deleted) as rows_deleted,
    (select count(*) from session_days) as session_days_recomputed,
    (
        select coalesce(jsonb_object_agg(rg.skip_reason, rg.message_count), '{{}}'::jsonb)
        from row_groups as rg
        where rg.skip_reason is not null
    ) as skipped_rows,
    case when %(replace_window)s then (select count(*) from session_days) end as rows_in_window,
    case when %(replace_window)s then (select count(distinct sd.session_id) from session_days as sd) end as sessions,
    case when %(replace_window)s then (select coalesce(sum(sd.message_count), 0) from session_days as sd) end as messages,
    case when %(replace_window)s then (select coalesce(sum(sd.malformed_message_count), 0) from session_days as sd) end
        as malformed_messages
