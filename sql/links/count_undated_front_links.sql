-- Counts the links of Front conversations with no created_at: in no partition's window, they are the table's links that a run over every partition does not own (the contract forbids such conversations; the audit reports them).
select count(*)
from {source}.front_conversations as conversation
inner join {source}.{links} as link
    on link.front_conversation_id = conversation.id
where conversation.created_at is null
