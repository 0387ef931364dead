-- Lists every crew with its client's code and the (untrusted) name of its histories table.
select
    cr.code as crew_code,
    cl.code as client_code,
    cr.histories_table_name
from {source}.crews as cr
left join {source}.clients as cl
    on cl.id = cr.client_id
order by cr.code
