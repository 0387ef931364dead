-- Lists every crew code once with its client's code, the (untrusted) name of its histories table, and how many different
-- (client, table) pairs the crews table gives that code: more than one is a conflict (a source without its unique key), never guessed at.
select
    crew.code as crew_code,
    min(client.code) as client_code,
    min(crew.histories_table_name) as histories_table_name,
    count(distinct row(crew.client_id, crew.histories_table_name)) as definitions
from {source}.crews as crew
left join {source}.clients as client
    on client.id = crew.client_id
group by crew.code
order by crew.code
