-- An app's new recipient: the first message of the Front conversation at or after conversation_pivot gets a recipient, stamped now, for the resolved contact method at or after contact_method_pivot, unless its person is already linked to that conversation; returns the link it makes (owner_id, conversation_id) and the contact method, or no row.
with picked_conversation as (
    select front_conversation.id
    from {source}.front_conversations as front_conversation
    where front_conversation.id >= %(conversation_pivot)s
    order by front_conversation.id
    limit 1
),

first_message as (
    select
        front_message.id,
        front_message.front_conversation_id
    from {source}.front_messages as front_message
    inner join picked_conversation on picked_conversation.id = front_message.front_conversation_id
    order by front_message.id
    limit 1
),

picked_contact_method as (
    select
        contact_method.id,
        contact_method.person_id
    from {source}.contact_methods as contact_method
    where contact_method.id >= %(contact_method_pivot)s and contact_method.person_id is not null
    order by contact_method.id
    limit 1
),

unlinked as (
    select
        first_message.id as front_message_id,
        first_message.front_conversation_id,
        picked_contact_method.id as contact_method_id,
        picked_contact_method.person_id
    from first_message
    cross join picked_contact_method
    where not exists (
        select
        from {source}.people_front_conversations as link
        where
            link.person_id = picked_contact_method.person_id
            and link.front_conversation_id = first_message.front_conversation_id
    )
),

inserted as (
    insert into {source}.front_message_recipients (front_message_id, contact_method_id, created_at, updated_at)
    select
        unlinked.front_message_id,
        unlinked.contact_method_id,
        now() as created_at,
        now() as updated_at
    from unlinked
    returning front_message_id
)

select
    unlinked.person_id as owner_id,
    unlinked.front_conversation_id as conversation_id,
    unlinked.contact_method_id
from unlinked
inner join inserted on inserted.front_message_id = unlinked.front_message_id;
