-- Inserts the demo app users, created before any project.
insert into {source}.users (id, created_at)
select
    md5(%(salt)s || ':user:' || gs.u)::uuid as id,
    %(start)s::timestamptz - interval '120 days' + make_interval(hours => gs.u::int) as created_at
from generate_series(0, %(users)s::bigint - 1) as gs (u);
