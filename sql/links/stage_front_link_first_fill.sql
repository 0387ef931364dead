-- Computes the oracle pairs of a first fill's whole range into {analytics}.{first_fill} (an unlogged table of the writer's own schema), numbered from 1 in (owner, conversation) order within each band of conversation ids (band_of_conversation.sql, bound ahead of the owner, or nothing for one band): what the fill's slices then insert, position range by position range.
-- Why one statement for the range: a join per chunk of days read every recipient and message of the
-- source whatever the chunk's size (a parallel hash join; a chunk's conversations are spread over the
-- heap), so a fill of N chunks read the source N times. Why a table rather than a temporary one: the
-- slices commit one by one (a logical subscriber receives bounded transactions), and on a pooled
-- connection nothing outlives a transaction but a table. Unlogged: never written to the WAL, so never
-- decoded for a subscriber, nor replayed on a standby, and gone after a crash, which only makes the next
-- fill stage again.
-- Why owner order: slices of days would each reach every owner, rewriting pages all over the link table's
-- unique pair, which leads with the owner; in owner order a band sweeps it once. Why bands: in owner order
-- alone the index by conversation takes every link on a random page (fill_bands says more).
-- The numbering's order is the DISTINCT's when the fill has one band: each worker sorts and dedups its
-- part and the leader merges them, in order. Bands put their key first, which takes one more sort.
create unlogged table {analytics}.{first_fill} as
with pairs as (
    {rows}
)

select
    row_number() over (
        order by {band} pairs.{owner}, pairs.front_conversation_id
    ) as position,
    pairs.{owner},
    pairs.front_conversation_id,
    pairs.front_conversation_created_at
from pairs
