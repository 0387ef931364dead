-- One person's 50 newest Front conversations, through people_front_conversations: one range scan of its (person_id, front_conversation_created_at desc) index.
select
    link.front_conversation_id as id,
    link.front_conversation_created_at as created_at
from {source}.people_front_conversations as link
where link.person_id = %(id)s
order by link.front_conversation_created_at desc, link.front_conversation_id desc
limit 50
