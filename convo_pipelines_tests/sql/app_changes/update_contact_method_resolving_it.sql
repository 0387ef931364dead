-- An app resolving a participant: the unresolved contact method at or after contact_method_pivot that received a message is given the person at or after person_pivot, stamped now, unless that person is already linked to its conversation; returns the link it makes (owner_id, conversation_id) and the contact method, or no row.
with picked_contact_method as (
    select
        contact_method.id,
        min(front_message.front_conversation_id::text)::uuid as front_conversation_id
    from {source}.contact_methods as contact_method
    inner join {source}.front_message_recipients as recipient on recipient.contact_method_id = contact_method.id
    inner join {source}.front_messages as front_message on front_message.id = recipient.front_message_id
    where contact_method.id >= %(contact_method_pivot)s and contact_method.person_id is null
    group by contact_method.id
    order by contact_method.id
    limit 1
),

picked_person as (
    select person.id
    from {source}.people as person
    where person.id >= %(person_pivot)s
    order by person.id
    limit 1
),

resolved as (
    update {source}.contact_methods as contact_method
    set person_id = picked_person.id, updated_at = now()
    from picked_contact_method
    cross join picked_person
    where
        contact_method.id = picked_contact_method.id
        -- The subquery reads the UPDATE's FROM, which sqlfluff's RF01 does not see from here.
        and not exists (
            select
            from {source}.people_front_conversations as link
            where
                link.person_id = picked_person.id -- noqa: RF01
                and link.front_conversation_id = picked_contact_method.front_conversation_id -- noqa: RF01
        )
    returning contact_method.id, contact_method.person_id
)

select
    resolved.person_id as owner_id,
    picked_contact_method.front_conversation_id as conversation_id,
    resolved.id as contact_method_id
from resolved
cross join picked_contact_method;
