-- Counts the missing links a diff found (pg_temp.front_link_differences without a link) per UTC hour of their conversation's created_at: how a large insert is cut into short transactions.
select
    date_trunc('hour', difference.oracle_front_conversation_created_at at time zone 'UTC')
    at time zone 'UTC' as hour,
    count(*) as links
from pg_temp.front_link_differences as difference
where difference.link_id is null
group by 1
order by 1
