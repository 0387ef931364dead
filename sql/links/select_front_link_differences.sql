-- Selects how a window's Front links differ from its defined pairs, each with its conversation: a link with no defined pair lost its support, a defined pair with no link is missing, a pair on both sides whose created_at copy differs is stale (it keeps its id).
-- For a window, the definition is the pairs staged first by a CREATE TABLE AS, which PostgreSQL runs in
-- parallel (a statement that writes a table, or holds a data-modifying CTE, never is): that join of every
-- recipient of the window is the heavy part, and this full join of two sets of pairs is small beside it.
-- For a few named conversations (a scoped run) the definition query is embedded itself: staging would cost
-- more than it saves.
with defined as (
    {defined_rows}
),

window_links as (
    {window_links}
)

select
    coalesce(defined.front_conversation_id, window_link.front_conversation_id) as front_conversation_id,
    window_link.id as link_id,
    defined.{owner} as defined_owner_id,
    defined.front_conversation_id as defined_front_conversation_id,
    defined.front_conversation_created_at as defined_front_conversation_created_at
from defined
full join window_links as window_link
    on
        window_link.owner_id = defined.{owner}
        and window_link.front_conversation_id = defined.front_conversation_id
where
    window_link.id is null
    or defined.front_conversation_id is null
    or window_link.front_conversation_created_at is distinct from defined.front_conversation_created_at
