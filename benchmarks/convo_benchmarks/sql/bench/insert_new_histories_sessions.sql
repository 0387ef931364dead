-- New chat sessions for the discovery-tick benchmark: a number of sessions of a few alternating human/ai messages each in one crew's histories table, the last message written now(), shaped like that table's messages (LangChain nests the content under "data", n8n does not); returns each new message's session id.
with table_shape as (
    select coalesce(
        (
            select sample.message ? 'data'
            from {source}.{histories_table} as sample
            where
                jsonb_typeof(sample.message) = 'object'
                and sample.message ->> 'type' in ('human', 'ai')
            order by sample.id
            limit 1
        ),
        true
    ) as is_langchain
),

new_sessions as (
    select gen_random_uuid() as session_id
    from generate_series(1, %(sessions)s::integer)
),

new_messages as (
    select
        session.session_id,
        position.n,
        case when mod(position.n, 2) = 1 then 'human' else 'ai' end as kind,
        case
            when mod(position.n, 2) = 1 then 'Hi, I need help with my order'
            else 'Sure, let me look that up for you.'
        end as content
    from new_sessions as session
    cross join generate_series(1, %(messages_per_session)s::integer) as position (n)
)

insert into {source}.{histories_table} (session_id, message, created_at)
select
    new_message.session_id,
    case
        when table_shape.is_langchain
            then jsonb_build_object(
                'type', new_message.kind,
                'data', jsonb_build_object(
                    'content', new_message.content,
                    'additional_kwargs', jsonb_build_object(),
                    'type', new_message.kind
                )
            )
        else jsonb_build_object(
            'type', new_message.kind,
            'content', new_message.content,
            'additional_kwargs', jsonb_build_object(),
            'response_metadata', jsonb_build_object()
        )
    end as message,
    now() - make_interval(secs => %(messages_per_session)s::integer - new_message.n) as created_at
from new_messages as new_message
cross join table_shape
order by new_message.session_id, new_message.n
returning session_id::text
