-- The app's "conversations of a project", through project_conversations.
select conversation.*
from {source}.project_conversations as link
join {source}.conversations as conversation on conversation.id = link.conversation_id
where link.project_id = %(id)s
