-- An app removing a person from a conversation: for the first people link of the Front conversation at or after conversation_pivot (link ids ascend with their insert's time, so a random id is no fair pivot among them), every recipient of that conversation's messages reaching that person is deleted, and, when touch_messages, its message stamped now, as Rails' `belongs_to :front_message, touch: true` does (else a hard delete that leaves no trace); returns the link that must go (owner_id, conversation_id), or no row.
with picked_link as (
    select
        link.person_id,
        link.front_conversation_id
    from {source}.people_front_conversations as link
    where link.front_conversation_id >= %(conversation_pivot)s
    order by link.front_conversation_id, link.person_id
    limit 1
),

deleted as (
    delete from {source}.front_message_recipients as recipient
    using picked_link, {source}.contact_methods as contact_method, {source}.front_messages as front_message
    where
        contact_method.id = recipient.contact_method_id
        and contact_method.person_id = picked_link.person_id
        and front_message.id = recipient.front_message_id
        and front_message.front_conversation_id = picked_link.front_conversation_id
    returning recipient.front_message_id
),

touched as (
    update {source}.front_messages as front_message
    set updated_at = now()
    where
        %(touch_messages)s
        and front_message.id in (select deleted.front_message_id from deleted)
    returning front_message.id
)

select
    picked_link.person_id as owner_id,
    picked_link.front_conversation_id as conversation_id
from picked_link
where exists (select from deleted) and (not %(touch_messages)s or exists (select from touched));
