-- Computes how a window's Front links differ from its oracle pairs into pg_temp.front_link_differences (dropped at commit), each with its conversation: a link with no oracle pair lost its support, an oracle pair with no link is missing, a pair on both sides whose created_at copy differs is stale (it keeps its id).
-- For a window, the oracle is the pairs staged first by a CREATE TABLE AS, which PostgreSQL runs in
-- parallel (a statement that writes a table, or holds a data-modifying CTE, never is): that join of every
-- recipient of the window is the heavy part, and this full join of two sets of pairs is small beside it.
-- For a few named conversations (a scoped run) the oracle query is embedded itself: staging would cost
-- more than it saves.
create temporary table front_link_differences on commit drop as
with oracle as (
    {oracle}
),

window_links as (
    {window_links}
)

select
    coalesce(oracle.front_conversation_id, window_link.front_conversation_id) as front_conversation_id,
    window_link.id as link_id,
    oracle.{owner} as oracle_owner_id,
    oracle.front_conversation_id as oracle_front_conversation_id,
    oracle.front_conversation_created_at as oracle_front_conversation_created_at
from oracle
full join window_links as window_link
    on
        window_link.owner_id = oracle.{owner}
        and window_link.front_conversation_id = oracle.front_conversation_id
where
    window_link.id is null
    or oracle.front_conversation_id is null
    or window_link.front_conversation_created_at is distinct from oracle.front_conversation_created_at
