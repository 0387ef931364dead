-- The app's "people of a Front conversation", through people_front_conversations.
select person.*
from {source}.people_front_conversations as link
join {source}.people as person on person.id = link.person_id
where link.front_conversation_id = %(id)s
