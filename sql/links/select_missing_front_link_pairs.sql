-- Selects the missing links a diff found (pg_temp.front_link_differences without a link) as (owner, conversation) pairs in that order, each the 32 bytes of its two uuids: the first pair_limit of them, and one more when there are more (make_front_window_exact inserts them in batches).
select uuid_send(difference.oracle_owner_id) || uuid_send(difference.oracle_front_conversation_id) as pair
from pg_temp.front_link_differences as difference
where difference.link_id is null
order by difference.oracle_owner_id, difference.oracle_front_conversation_id
limit %(pair_limit)s + 1
