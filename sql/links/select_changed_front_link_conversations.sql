-- Selects the conversations a diff found links to change in (pg_temp.front_link_differences), in id order, each the 16 bytes of its uuid and its number of changes as 4 bytes: the first conversation_limit of them, and one more when there are more (make_exact_by_batches makes them exact in batches of whole conversations).
select uuid_send(difference.front_conversation_id) || int4send(count(*)::int) as conversation
from pg_temp.front_link_differences as difference
group by difference.front_conversation_id
order by difference.front_conversation_id
limit %(conversation_limit)s + 1
