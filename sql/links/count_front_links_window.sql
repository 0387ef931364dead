-- Counts the links of a window's Front conversations (only those in only_conversation_ids when given): after a diff's deletes, the window's rows but for the missing ones still to insert.
select count(*)
from {source}.front_conversations as conversation
join {source}.{links} as link
    on link.front_conversation_id = conversation.id
where conversation.created_at >= %(start)s
  and conversation.created_at < %(end)s
  and (%(only_conversation_ids)s::uuid[] is null or conversation.id = any(%(only_conversation_ids)s::uuid[]))
