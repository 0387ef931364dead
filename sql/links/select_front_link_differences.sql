-- Selects how a window's Front links differ from its defined pairs, each with its conversation, once: a link with no defined pair lost its support, a defined pair with no link is missing, a pair on both sides whose created_at copy differs is stale (it keeps its id).
-- The defined rows hold a pair once per row that supports it, as the definition's join gives them:
-- the DISTINCT dedups only the differences, where deduping every pair first is a hash or sort of tens of
-- millions of rows in one process. The whole statement then runs in parallel, the join of every recipient of the
-- window and the full join with its stored links alike (PostgreSQL 16 and later run a full join in parallel).
-- For a few named conversations (a scoped run) the definition query is the same, read through the indexes.
with defined as (
    {defined_rows}
),

window_links as (
    {window_links}
)

select distinct
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
