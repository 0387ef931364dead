-- Registers every crew of many_crews_plan in {source}.crews, clients taken in turn by code.
with numbered_clients as (
    select
        client.id,
        row_number() over (order by client.code) - 1 as position,
        count(*) over () as clients
    from {source}.clients as client
)

insert into {source}.crews (code, client_id, histories_table_name)
select
    plan.code,
    numbered_client.id,
    plan.table_name
from pg_temp.many_crews_plan as plan
inner join numbered_clients as numbered_client
    on numbered_client.position = mod(plan.crew_number, numbered_client.clients)
