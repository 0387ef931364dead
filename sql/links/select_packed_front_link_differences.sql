-- Selects the differences a diff found (pg_temp.front_link_differences) in conversation order, each packed as 48 bytes: its conversation's uuid, its link's (zeros: a missing link) and its defined owner's (zeros: a link that lost its support), for the run to hold while its batches apply them.
select
    uuid_send(difference.front_conversation_id)
    || coalesce(uuid_send(difference.link_id), decode(repeat('00', 16), 'hex'))
    || coalesce(uuid_send(difference.defined_owner_id), decode(repeat('00', 16), 'hex')) as difference
from pg_temp.front_link_differences as difference
order by difference.front_conversation_id, difference.link_id, difference.defined_owner_id
