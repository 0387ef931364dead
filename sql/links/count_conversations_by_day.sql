-- Counts the window's conversations (front_conversations or conversations) per UTC day (an index-only scan of created_at), to cut a long range into chunks of bounded size.
select
    (conversation.created_at::timestamptz at time zone 'UTC')::date as day,
    count(*) as conversations
from {source}.{conversations} as conversation
where
    conversation.created_at >= %(start)s
    and conversation.created_at < %(end)s
group by 1
order by 1
