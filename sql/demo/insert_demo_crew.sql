-- Inserts one demo crew pointing at a client (clients taken in turn by code) unless a crew with that code exists.
with numbered_clients as (
    select
        client.id,
        row_number() over (order by client.code) - 1 as position,
        count(*) over () as clients
    from {source}.clients as client
)

insert into {source}.crews (code, client_id, histories_table_name)
select
    %(code)s as code,
    numbered_client.id as client_id,
    %(histories_table_name)s as histories_table_name
from numbered_clients as numbered_client
where numbered_client.position = mod(%(crew_number)s - 1, numbered_client.clients)
on conflict (code) do nothing
