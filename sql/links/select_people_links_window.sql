-- Computes the people links a window's Front conversations should have: distinct (person, conversation) pairs, with the conversation's created_at, over recipients whose contact method resolves to an existing person (the join bound in as existing_people: join_existing_people.sql, or nothing when the source's validated foreign key from contact_methods.person_id proves every such person exists). Optionally only the conversations in only_conversation_ids (a late-change run, or a batch of changed conversations).
-- The conversation comes first: a sorted DISTINCT sorts in this order, which is a first fill's (set_sorted_distinct_settings.sql).
-- {distinct} is DISTINCT, or nothing for a diff, which dedups only the differences it finds
-- (select_front_link_differences.sql): the pairs then stay one per recipient, as the parallel join gives them.
select {distinct}
    message.front_conversation_id,
    contact_method.person_id,
    conversation.created_at::timestamptz as front_conversation_created_at
from {source}.front_conversations as conversation
inner join {source}.front_messages as message
    on message.front_conversation_id = conversation.id
inner join {source}.front_message_recipients as recipient
    on recipient.front_message_id = message.id
inner join {source}.contact_methods as contact_method
    on contact_method.id = recipient.contact_method_id
{existing_people}
where
    contact_method.person_id is not null
    and conversation.created_at >= %(start)s
    and conversation.created_at < %(end)s
    and (%(only_conversation_ids)s::uuid[] is null or conversation.id = any(%(only_conversation_ids)s::uuid[]))
