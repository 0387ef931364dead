-- The app reads one Front conversation by id.
select conversation.*
from {source}.front_conversations as conversation
where conversation.id = %(id)s
