-- Registers one crew of the discovery-freshness benchmark, its code also its histories table's name, for the first client.
insert into {source}.crews (code, client_id, histories_table_name)
select
    %(code)s as code,
    client.id as client_id,
    %(code)s as histories_table_name
from {source}.clients as client
order by client.code
limit 1
