-- Writes one new chat session into an n8n-made histories table (no created_at) as n8n's chat memory does: %(messages)s
-- alternating human and ai messages in n8n's shape, in id order; returns the session's id.
with new_session as (
    select gen_random_uuid()::text as session_id
)

insert into {source}.{histories_table} (session_id, message)
select
    new_session.session_id,
    jsonb_build_object(
        'type', case when mod(position.n, 2) = 1 then 'human' else 'ai' end,
        'content', case when mod(position.n, 2) = 1 then 'Where is my order?' else 'It ships today.' end,
        'additional_kwargs', jsonb_build_object(),
        'response_metadata', jsonb_build_object()
    ) as message
from new_session
cross join generate_series(1, %(messages)s::integer) as position (n)
order by position.n
returning session_id
