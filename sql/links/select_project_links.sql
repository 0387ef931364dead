-- Computes the project links of the conversations created in [start, end) (only those in only_conversation_ids when given: a scoped run): (project, conversation) from conversations.project_id where the project exists, added_by the project's user when that user exists.
select
    conversation.project_id,
    conversation.id as conversation_id,
    project_user.id as added_by
from {source}.conversations as conversation
inner join {source}.projects as project
    on project.id = conversation.project_id
left join {source}.users as project_user
    on project_user.id = project.user_id
where
    conversation.created_at >= %(start)s
    and conversation.created_at < %(end)s
    and (%(only_conversation_ids)s::uuid[] is null or conversation.id = any(%(only_conversation_ids)s::uuid[]))
