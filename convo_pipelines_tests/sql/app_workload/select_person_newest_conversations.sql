-- The app's "a person's 50 newest Front conversations", through people_front_conversations.
select
    link.front_conversation_id,
    link.front_conversation_created_at
from {source}.people_front_conversations as link
where link.person_id = %(id)s
order by link.front_conversation_created_at desc, link.front_conversation_id desc
limit 50
