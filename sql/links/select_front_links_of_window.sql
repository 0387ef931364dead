-- Selects the links of a window's Front conversations (only those in only_conversation_ids when given), the owner column as owner_id: the stored side of a diff, and what a scoped run counts.
select
    link.id,
    link.{owner} as owner_id,
    link.front_conversation_id,
    link.front_conversation_created_at
from {source}.front_conversations as conversation
inner join {source}.{links} as link
    on link.front_conversation_id = conversation.id
where
    conversation.created_at >= %(start)s
    and conversation.created_at < %(end)s
    and (%(only_conversation_ids)s::uuid[] is null or conversation.id = any(%(only_conversation_ids)s::uuid[]))
