-- One project's conversations the old way: the deprecated projects.conversation_ids cache, joined to the conversations that still exist.
select conversation.id
from {source}.projects as project
cross join lateral unnest(project.conversation_ids) as cached (conversation_id)
inner join {source}.conversations as conversation
    on conversation.id = cached.conversation_id
where project.id = %(id)s
