-- Draws up to `samples` random ids of one table (with a fixed seed, so reruns read the same ids) for the read-latency benchmark.
with drawn as (
    select
        entity.id,
        md5(%(salt)s || entity.id::text) as draw
    from {source}.{table} as entity
)

select drawn.id
from drawn
order by drawn.draw
limit %(samples)s
