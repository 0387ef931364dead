-- One project's conversations, through project_conversations.
select link.conversation_id
from {source}.project_conversations as link
where link.project_id = %(id)s
