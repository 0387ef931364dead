-- The owners of the missing links of pg_temp.front_link_differences, in owner order, with how many each misses: the first owner_limit of them, and one more when there are more (make_front_window_exact batches them).
select
    difference.oracle_owner_id as owner_id,
    count(*) as links
from pg_temp.front_link_differences as difference
where difference.link_id is null
group by difference.oracle_owner_id
order by difference.oracle_owner_id
limit %(owner_limit)s + 1
