-- Recomputes, over ALL their days, one crew's conversation_summaries rows for a set of touched sessions, and deletes the summaries of those sessions that no longer have any message.
-- The touched sessions (in the session_id column's own type) are bound in as a file: a full run's are the sessions the window touches
-- (select_sessions_touched_by_window.sql), an incremental run's the sessions with new messages (select_sessions_with_new_messages.sql).
with touched_sessions as (
    {touched_sessions}
),

session_messages as (
    select
        history.id,
        history.session_id::text as session_id,
        history.created_at::timestamptz as created_at,
        (history.created_at::timestamptz at time zone 'UTC')::date as activity_date,
        case when {message_typeof}({message}) = 'object' then {message} ->> 'type' end as message_type,
        -- content is a string, or (LangChain, multimodal) a list of blocks whose text parts count
        case
            when {message_typeof}({message}) <> 'object' then null
            when {message_typeof}(coalesce({message} -> 'data' -> 'content', {message} -> 'content')) = 'array'
                then (
                    select string_agg(block.item ->> 'text', ' ')
                    from
                        {message_elements}(
                            coalesce({message} -> 'data' -> 'content', {message} -> 'content')
                        ) as block (item)
                    where
                        {message_typeof}(block.item) = 'object'
                        and block.item ->> 'type' = 'text'
                )
            else coalesce({message} -> 'data' ->> 'content', {message} ->> 'content')
        end as content
    from {histories_rows} as history
    cross join lateral ({row_skip_reason}) as row_check -- noqa: ST05
    where
        history.session_id in (select touched_session.session_id from touched_sessions as touched_session)
        -- Skipped exactly as histories_sessions skips them (select_row_skip_reason.sql), so summaries equal the sums
        -- of their days; the filter applies at the scan, before the message is read.
        and row_check.skip_reason is null
),

recomputed as (
    select
        session_message.session_id,
        count(*)::integer as message_count,
        (count(*) filter (where session_message.message_type = 'human'))::integer as human_message_count,
        (count(*) filter (where session_message.message_type = 'ai'))::integer as ai_message_count,
        min(session_message.created_at) as started_at,
        max(session_message.created_at) as ended_at,
        extract(epoch from max(session_message.created_at) - min(session_message.created_at)) as duration_seconds,
        count(distinct session_message.activity_date)::integer as active_days,
        (
            array_agg(left(session_message.content, 200) order by session_message.created_at, session_message.id)
            filter (where session_message.message_type = 'human' and session_message.content <> '')
        )[1] as first_human_message
    from session_messages as session_message
    group by session_message.session_id
),

upserted as (
    insert into {analytics}.conversation_summaries as summary (
        crew_code, session_id, client_code, message_count, human_message_count, ai_message_count,
        started_at, ended_at, duration_seconds, active_days, first_human_message, updated_at
    )
    select
        %(crew_code)s as crew_code,
        recomputed_session.session_id,
        %(client_code)s as client_code,
        recomputed_session.message_count,
        recomputed_session.human_message_count,
        recomputed_session.ai_message_count,
        recomputed_session.started_at,
        recomputed_session.ended_at,
        recomputed_session.duration_seconds,
        recomputed_session.active_days,
        recomputed_session.first_human_message,
        now() as updated_at
    from recomputed as recomputed_session
    on conflict (crew_code, session_id) do update
        set
            client_code = excluded.client_code,
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
            summary.client_code,
            summary.message_count,
            summary.human_message_count,
            summary.ai_message_count,
            summary.started_at,
            summary.ended_at,
            summary.duration_seconds,
            summary.active_days,
            summary.first_human_message
        ) is distinct from (
            excluded.client_code,
            excluded.message_count,
            excluded.human_message_count,
            excluded.ai_message_count,
            excluded.started_at,
            excluded.ended_at,
            excluded.duration_seconds,
            excluded.active_days,
            excluded.first_human_message
        )
    returning (summary.xmax = 0) as inserted
),

-- The touched sessions left without any message: a set difference of the two lists, in time linear in their sizes.
vanished_sessions as (
    select touched_session.session_id::text as session_id
    from touched_sessions as touched_session
    except
    select recomputed_session.session_id
    from recomputed as recomputed_session
),

deleted as (
    delete from {analytics}.conversation_summaries as summary
    where
        summary.crew_code = %(crew_code)s
        -- Matched against an array of the vanished sessions (none in a first backfill), not joined with the touched
        -- sessions: statistics gathered before the crew's first summaries estimate its rows at one, and such a join
        -- is then a nested loop comparing each summary of the crew with each touched session, square in its sessions.
        and summary.session_id = any(
            array(select vanished_session.session_id from vanished_sessions as vanished_session)
        )
    returning 1
)

select
    (select count(*) from upserted as upserted_row where upserted_row.inserted) as rows_inserted,
    (select count(*) from upserted as upserted_row where not upserted_row.inserted) as rows_updated,
    (select count(*) from deleted) as rows_deleted,
    (select count(*) from touched_sessions) as sessions_touched
