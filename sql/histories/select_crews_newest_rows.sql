-- Lists crews with the marker of their histories table's newest row: one probe per crew bound in below
-- (select_crew_newest_row.sql, each in parentheses, joined by union all), so that one statement probes many crews:
-- what the discovery sensor compares with its cursor at every tick.
with crew_probes as (
    {crew_probes}
)

select
    crew_probe.crew_code,
    crew_probe.newest_row
from crew_probes as crew_probe
