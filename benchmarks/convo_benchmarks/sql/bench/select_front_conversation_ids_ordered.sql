-- Every Front conversation id in a stable order, to cut into the seeds' batches of 500.
select conversation.id
from {source}.front_conversations as conversation
order by conversation.id
