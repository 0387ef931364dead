-- The people of one Front conversation the old way: messages -> recipients -> contact methods -> people.
select distinct person.id
from {source}.front_messages as message
inner join {source}.front_message_recipients as recipient
    on recipient.front_message_id = message.id
inner join {source}.contact_methods as contact_method
    on contact_method.id = recipient.contact_method_id
inner join {source}.people as person
    on person.id = contact_method.person_id
where message.front_conversation_id = %(id)s
