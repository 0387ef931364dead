-- Counts the missing links of pg_temp.front_link_differences of the owners in owner_ids by the UTC hour their conversation was created in, in owner and hour order: how make_front_window_exact cuts an owner missing more than a batch into transactions over consecutive hours.
select
    difference.oracle_owner_id as owner_id,
    date_trunc('hour', difference.oracle_front_conversation_created_at, 'UTC') as created_hour,
    count(*) as links
from pg_temp.front_link_differences as difference
where
    difference.link_id is null
    and difference.oracle_owner_id = any(%(owner_ids)s::uuid[])
group by difference.oracle_owner_id, created_hour
order by difference.oracle_owner_id, created_hour
