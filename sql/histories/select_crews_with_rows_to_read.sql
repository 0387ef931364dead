-- Lists the crews whose histories table has a row an incremental run would read: one probe per crew bound in below
-- (select_crew_rows_to_read.sql, each in parentheses, joined by union all), so that one statement probes many crews
-- and a tick spends no transaction, lock or merge on a crew with nothing new.
with crew_probes as (
    {crew_probes}
)

select crew_probe.crew_code
from crew_probes as crew_probe
