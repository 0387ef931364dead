-- The app's "conversations of a project", through project_conversations.
-- Every column, as the app's ORM reads a row, whatever the table holds.
select conversation.* -- noqa: AM04
from {source}.project_conversations as link
inner join {source}.conversations as conversation on conversation.id = link.conversation_id
where link.project_id = %(id)s
