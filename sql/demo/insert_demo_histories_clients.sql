-- Inserts demo clients (one per crew) only when the clients table is empty, so demo crews always have a client.
insert into {source}.clients (code, name)
select
    'demo_client_' || gs.n as code,
    'Demo Client ' || gs.n as name
from generate_series(1, %(clients)s::integer) as gs (n)
where not exists (select 1 from {source}.clients)
