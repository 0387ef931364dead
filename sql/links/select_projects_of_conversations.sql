-- Selects the projects the conversations in only_conversation_ids belong to, in conversations.project_id and in their stored project_conversations links: read by a scoped run before it reconciles them, so a conversation's old project (whose deprecated array may still list it) is among them.
select conversation.project_id
from {source}.conversations as conversation
where
    conversation.id = any(%(only_conversation_ids)s::uuid[])
    and conversation.project_id is not null
union
select link.project_id
from {source}.project_conversations as link
where link.conversation_id = any(%(only_conversation_ids)s::uuid[])
