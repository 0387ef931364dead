-- Computes the defined pairs of a first fill's whole range into {analytics}.{first_fill} (an unlogged table of the writer's own schema), numbered from 1 in (conversation, owner) order, each with the position of its conversation's last pair: what the fill's slices then insert, position range by position range, each ending with a conversation.
-- Why stage at all, even a window of one slice: PostgreSQL runs the query of an INSERT in one process and
-- that of a CREATE TABLE AS in parallel workers, so the join staged then inserted costs less than the
-- join inserted straight into the link table.
-- Why one statement for the range: a join per chunk of days would read every recipient and message of the
-- source whatever the chunk's size (a parallel hash join; a chunk's conversations are spread over the
-- heap), so a fill of N chunks would read the source N times. Why a table rather than a temporary one: the
-- slices commit one by one (a logical subscriber receives bounded transactions), and on a pooled
-- connection nothing outlives a transaction but a table. Unlogged: never written to the WAL, so never
-- decoded for a subscriber, nor replayed on a standby, and gone after a crash, which only makes the next
-- fill stage again.
-- Why conversation order: the table's unique pair leads with the conversation, so in that order every
-- slice appends to it, as the ids that ascend with the positions append to the primary key. A slice ends
-- where a conversation does (conversation_end), so the app never reads a conversation with part of its links.
-- The numbering's order is the DISTINCT's, sorted (set_sorted_distinct_settings.sql: each worker sorts and
-- dedups its part and the leader merges them, in order), and the count by conversation shares it: one sort.
-- A conversation's last position is the count of the pairs up to its own last one: count(*) ordered by the
-- conversation alone counts a row's peers (its conversation's other pairs) with it.
create unlogged table {analytics}.{first_fill} as
with pairs as (
    {rows}
)

select
    row_number() over (
        order by pairs.front_conversation_id, pairs.{owner}
    ) as position,
    count(*) over (
        order by pairs.front_conversation_id
    ) as conversation_end,
    pairs.{owner},
    pairs.front_conversation_id,
    pairs.front_conversation_created_at
from pairs
