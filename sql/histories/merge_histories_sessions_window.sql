-- Makes one crew's histories_sessions rows for the window's days equal to that crew's messages in the window.
-- Reads only the window's messages (a created_at range scan); rows that did not change are left alone.
with window_messages as (
    select
        h.session_id::text as session_id,
        (h.created_at at time zone 'UTC')::date as activity_date,
        h.created_at,
        case when {message_typeof}({message}) = 'object' then {message} ->> 'type' end as message_type
    from {source}.{histories_table} as h
    where h.created_at >= %(window_start)s
      and h.created_at < %(window_end)s
),

session_days as (
    select
        wm.session_id,
        wm.activity_date,
        count(*)::integer as message_count,
        (count(*) filter (where wm.message_type = 'human'))::integer as human_message_count,
        (count(*) filter (where wm.message_type = 'ai'))::integer as ai_message_count,
        (count(*) filter (
            where wm.message_type is null or wm.message_type not in ('human', 'ai', 'system', 'tool')
        ))::integer as malformed_message_count,
        min(wm.created_at) as first_message_at,
        max(wm.created_at) as last_message_at
    from window_messages as wm
    group by wm.session_id, wm.activity_date
),

upserted as (
    insert into {analytics}.histories_sessions as hs (
        crew_code, session_id, activity_date, client_code, message_count, human_message_count,
        ai_message_count, malformed_message_count, first_message_at, last_message_at
    )
    select
        %(crew_code)s, sd.session_id, sd.activity_date, %(client_code)s, sd.message_count, sd.human_message_count,
        sd.ai_message_count, sd.malformed_message_count, sd.first_message_at, sd.last_message_at
    from session_days as sd
    on conflict (crew_code, session_id, activity_date) do update
    set client_code = excluded.client_code,
        message_count = excluded.message_count,
        human_message_count = excluded.human_message_count,
        ai_message_count = excluded.ai_message_count,
        malformed_message_count = excluded.malformed_message_count,
        first_message_at = excluded.first_message_at,
        last_message_at = excluded.last_message_at
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
    where hs.crew_code = %(crew_code)s
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

select
    (select count(*) from upserted as u where u.inserted) as rows_inserted,
    (select count(*) from upserted as u where not u.inserted) as rows_updated,
    (select count(*) from deleted) as rows_deleted,
    (select count(*) from session_days) as rows_in_window,
    (select count(distinct sd.session_id) from session_days as sd) as sessions,
    (select coalesce(sum(sd.message_count), 0) from session_days as sd) as messages,
    (select coalesce(sum(sd.malformed_message_count), 0) from session_days as sd) as malformed_messages
