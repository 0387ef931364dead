-- Draws up to `samples` random ids of one table (with a fixed seed, so reruns read the same ids) for the read-latency benchmark.
select sampled.id
from (
    select entity.id, md5(%(salt)s || entity.id::text) as draw
    from {source}.{table} as entity
) as sampled
order by sampled.draw
limit %(samples)s
