-- Counts a diff's differences (pg_temp.front_link_differences) by kind: links missing, links that lost their support, links whose created_at copy is stale.
select
    count(*) filter (where difference.link_id is null) as rows_missing,
    count(*) filter (where difference.defined_front_conversation_id is null) as rows_lost,
    count(*) filter (
        where difference.link_id is not null and difference.defined_front_conversation_id is not null
    ) as rows_stale
from pg_temp.front_link_differences as difference
