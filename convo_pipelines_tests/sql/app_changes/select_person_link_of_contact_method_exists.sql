-- Whether people_front_conversations links the conversation to the person who owns the contact method now: what a freshness sample polls for when the app may have re-created that person meanwhile (a new person taking over the contact methods).
select exists(
    select
    from {source}.people_front_conversations as link
    inner join {source}.contact_methods as contact_method on contact_method.person_id = link.person_id
    where contact_method.id = %(contact_method_id)s and link.front_conversation_id = %(conversation_id)s
) as linked;
