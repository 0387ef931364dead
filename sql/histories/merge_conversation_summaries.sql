-- Recomputes, over ALL their days, one crew's conversation_summaries rows for a set of touched sessions, and deletes the summaries of those sessions that no longer have any message.
-- The touched sessions (in the session_id column's own type) are bound in as a file: a full run's are the sessions the window touches
-- (select_sessions_touched_by_window.sql), an incremental run's the sessions with new messages (select_sessions_with_new_messages.sql).
with touched_sessions as (
    {touched_sessions}
),

session_messages as (
    select
        h.id,
        h.session_id::text as session_id,
        h.created_at,
        (h.created_at at time zone 'UTC')::date as activity_date,
        case when {message_typeof}({message}) = 'object' then {message} ->> 'type' end as message_type,
        -- content is a string, or (LangChain, multimodal) a list of blocks whose text parts count
        case
            when {message_typeof}({message}) <> 'object' then null
            when {message_typeof}(coalesce({message} -> 'data' -> 'content', {message} -> 'content')) = 'array' then (
                select string_agg(block.item ->> 'text', ' ')
                from {message_elements}(coalesce({message} -> 'data' -> 'content', {message} -> 'content')) as block (item)
                where {message_typeof}(block.item) = 'object'
                  and block.item ->> 'type' = 'text'
            )
            else coalesce({message} -> 'data' ->> 'content', {message} ->> 'content')
        end as content
    from {source}.{histories_table} as h
    cross join lateral ({row_skip_reason}) as row_check
    where h.session_id in (select ts.session_id from touched_sessions as ts)
      -- Skipped exactly as histories_sessions skips them (select_row_skip_reason.sql), so summaries equal the sums of
      -- their days; the filter applies at the scan, before the message is read.
      and row_check.skip_reason is null
),

recomputed as (
    select
        sm.session_id,
        count(*)::integer as message_count,
        (count(*) filter (where sm.message_type = 'human'))::integer as human_message_count,
        (count(*) filter (where sm.message_type = 'ai'))::integer as ai_message_count,
        min(sm.created_at) as started_at,
        max(sm.created_at) as ended_at,
        extract(epoch from max(sm.created_at) - min(sm.created_at)) as duration_seconds,
        count(distinct sm.activity_date)::integer as active_days,
        (array_agg(left(sm.content, 200) order by sm.created_at, sm.id)
            filter (where sm.message_type = 'human' and sm.content <> ''))[1] as first_human_message
    from session_messages as sm
    group by sm.session_id
),

upserted as (
    insert into {analytics}.conversation_summaries as cs (
        crew_code, session_id, client_code, message_count, human_message_count, ai_message_count,
        started_at, ended_at, duration_seconds, active_days, first_human_message, updated_at
    )
    select
        %(crew_code)s, rc.session_id, %(client_code)s, rc.message_count, rc.human_message_count,
        rc.ai_message_count, rc.started_at, rc.ended_at, rc.duration_seconds, rc.active_days,
        rc.first_human_message, now()
    from recomputed as rc
    on conflict (crew_code, session_id) do update
    set client_code = excluded.client_code,
        message_count = excluded.message_count,
        human_message_count = excluded.human_message_count,
        ai_message_count = excluded.ai_message_count,
        started_at = excluded.started_at,
        ended_at = excluded.ended_at,
        duration_seconds = excluded.duration_seconds,
        active_days = excluded.active_days,
        first_human_message = excluded.first_human_message,
        updated_at = excluded.updated_at
    where (
        cs.client_code, cs.message_count, cs.human_message_count, cs.ai_message_count, cs.started_at,
        cs.ended_at, cs.duration_seconds, cs.active_days, cs.first_human_message
    ) is distinct from (
        excluded.client_code, excluded.message_count, excluded.human_message_count, excluded.ai_message_count,
        excluded.started_at, excluded.ended_at, excluded.duration_seconds, excluded.active_days,
        excluded.first_human_message
    )
    returning (cs.xmax = 0) as inserted
),

deleted as (
    delete from {analytics}.conversation_summaries as cs
    where cs.crew_code = %(crew_code)s
      and cs.session_id in (select ts.session_id::text from touched_sessions as ts)
      and not exists (select 1 from recomputed as rc where rc.session_id = cs.session_id)
    returning 1
)

select
    (select count(*) from upserted as u where u.inserted) as rows_inserted,
    (select count(*) from upserted as u where not u.inserted) as rows_updated,
    (select count(*) from deleted) as rows_deleted,
    (select count(*) from touched_sessions) as sessions_touched
