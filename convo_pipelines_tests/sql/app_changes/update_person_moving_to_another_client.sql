-- An app moving a person to another client: the linked person at or after person_pivot gets the client at or after client_pivot (another than theirs), stamped now, when one of their conversations is not yet linked to that client; returns the link it makes there in clients_front_conversations (owner_id, conversation_id), or no row.
with picked_person as (
    select
        person.id,
        person.client_id
    from {source}.people as person
    where
        person.id >= %(person_pivot)s
        and exists (
            select from {source}.people_front_conversations as link where link.person_id = person.id
        )
    order by person.id
    limit 1
),

picked_client as (
    select client.id
    from {source}.clients as client
    cross join picked_person
    where client.id >= %(client_pivot)s and client.id is distinct from picked_person.client_id
    order by client.id
    limit 1
),

unlinked_conversation as (
    select link.front_conversation_id
    from {source}.people_front_conversations as link
    inner join picked_person on picked_person.id = link.person_id
    cross join picked_client
    where
        not exists (
            select
            from {source}.clients_front_conversations as client_link
            where
                client_link.client_id = picked_client.id
                and client_link.front_conversation_id = link.front_conversation_id
        )
    order by link.front_conversation_id
    limit 1
),

moved as (
    update {source}.people as person
    set client_id = picked_client.id, updated_at = now()
    from picked_person
    cross join picked_client
    where person.id = picked_person.id and exists (select from unlinked_conversation)
    returning person.client_id
)

select
    moved.client_id as owner_id,
    unlinked_conversation.front_conversation_id as conversation_id
from moved
cross join unlinked_conversation;
