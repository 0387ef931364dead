-- Inserts one demo crew pointing at a client (clients taken in turn by code) unless a crew with that code exists.
with numbered_clients as (
    select
        cl.id,
        row_number() over (order by cl.code) - 1 as position,
        count(*) over () as clients
    from {source}.clients as cl
)
insert into {source}.crews (code, client_id, histories_table_name)
select %(code)s, nc.id, %(histories_table_name)s
from numbered_clients as nc
where nc.position = (%(crew_number)s - 1) %% nc.clients
on conflict (code) do nothing
