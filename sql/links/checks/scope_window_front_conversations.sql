-- Every Front conversation created in [window_start, window_end), either bound null meaning unbounded: the scope of a complete comparison (a check run on its own).
-- not materialized: each use is planned with the window's own row estimate and indexes
scoped_conversations as not materialized (
    select
        front_conversation.id,
        front_conversation.created_at
    from {source}.front_conversations as front_conversation
    where
        (%(window_start)s::timestamptz is null or front_conversation.created_at >= %(window_start)s::timestamptz)
        and (%(window_end)s::timestamptz is null or front_conversation.created_at < %(window_end)s::timestamptz)
)
