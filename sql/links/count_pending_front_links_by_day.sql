-- Counts the missing links a diff found (pg_temp.front_link_differences without a link) per UTC day of their conversation's created_at: how a large insert is cut into transactions of bounded size.
select
    (difference.oracle_front_conversation_created_at at time zone 'UTC')::date as day,
    count(*) as links
from pg_temp.front_link_differences as difference
where difference.link_id is null
group by 1
order by 1
