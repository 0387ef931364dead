-- Inserts the demo projects, each owned by a user; conversation_ids is filled later from the conversations.
with numbered as (
    select
        gs.j as project_number,
        hashtextextended(%(salt)s || ':project:' || gs.j, 0) & 9223372036854775807 as h
    from generate_series(0, %(projects)s::bigint - 1) as gs (j)
)

insert into {source}.projects (id, user_id, name, conversation_ids, created_at, updated_at)
select
    md5(%(salt)s || ':project:' || numbered.project_number)::uuid as id,
    md5(%(salt)s || ':user:' || mod(numbered.h, %(users)s::bigint))::uuid as user_id,
    (array[
        'Website relaunch', 'Spring campaign', 'Warehouse move', 'CRM migration', 'Partner program',
        'Pricing review', 'Mobile app', 'Trade fair'
    ])[1 + mod(numbered.h / 1000, 8)]
    || ' ' || (numbered.project_number + 1) as name,
    null::uuid[] as conversation_ids,
    %(start)s::timestamptz - interval '30 days' as created_at,
    %(start)s::timestamptz - interval '30 days' as updated_at
from numbered;
