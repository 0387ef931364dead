-- Computes the client links a window's Front conversations should have: distinct (current client, conversation) pairs, with the conversation's created_at, of the window's people links, for clients that exist. Optionally only the conversations in only_conversation_ids (a late-change run, or a batch of changed conversations).
-- The conversation comes first: a sorted DISTINCT sorts in this order, which is a first fill's (set_sorted_distinct_settings.sql).
-- {distinct} is DISTINCT, or nothing for a diff, which dedups only the differences it finds
-- (select_front_link_differences.sql): the pairs then stay one per people link, as the parallel join gives them.
select {distinct}
    people_link.front_conversation_id,
    person.client_id,
    conversation.created_at::timestamptz as front_conversation_created_at
from {source}.front_conversations as conversation
inner join {source}.people_front_conversations as people_link
    on people_link.front_conversation_id = conversation.id
inner join {source}.people as person
    on person.id = people_link.person_id
inner join {source}.clients as client
    on client.id = person.client_id
where
    conversation.created_at >= %(start)s
    and conversation.created_at < %(end)s
    and (%(only_conversation_ids)s::uuid[] is null or conversation.id = any(%(only_conversation_ids)s::uuid[]))
