-- Up to sample_conversations Front conversations drawn at random among those created in [window_start, window_end) (either bound null meaning unbounded), only among only_conversation_ids when given: the scope of the check that follows a run.
-- Materialized: drawn once, so every part of the comparison sees the same sample. Ordered by the id's hash
-- seeded with sample_seed (the hash partitioning uses, cheaper than random() or hashing the id's text), not
-- by random(), so each statement of one check (its first pass, then the full one when that finds a
-- difference) draws the same conversations. A sample of a few thousand is compared through the source's
-- indexes in a fraction of the run's time; a wrong row in a share p of the conversations escapes it with
-- probability (1 - p) ^ sample_conversations.
scoped_conversations as materialized (
    select
        front_conversation.id,
        front_conversation.created_at
    from {source}.front_conversations as front_conversation
    where
        (%(window_start)s::timestamptz is null or front_conversation.created_at >= %(window_start)s::timestamptz)
        and (%(window_end)s::timestamptz is null or front_conversation.created_at < %(window_end)s::timestamptz)
        and (
            %(only_conversation_ids)s::uuid[] is null
            or front_conversation.id = any(%(only_conversation_ids)s::uuid[])
        )
    order by uuid_hash_extended(front_conversation.id, %(sample_seed)s::bigint)
    limit %(sample_conversations)s
)
