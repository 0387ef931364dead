-- Lists every crew code once with its client's code, the (untrusted) name of its histories table, and how many different
-- (client, table) pairs the crews table gives that code: more than one is a conflict (a source without its unique key), never guessed at.
select
    cr.code as crew_code,
    min(cl.code) as client_code,
    min(cr.histories_table_name) as histories_table_name,
    count(distinct (cr.client_id, cr.histories_table_name)) as definitions
from {source}.crews as cr
left join {source}.clients as cl
    on cl.id = cr.client_id
group by cr.code
order by cr.code
