-- The app's "people of a Front conversation", through people_front_conversations.
-- Every column, as the app's ORM reads a row, whatever the table holds.
select person.* -- noqa: AM04
from {source}.people_front_conversations as link
inner join {source}.people as person on person.id = link.person_id
where link.front_conversation_id = %(id)s
