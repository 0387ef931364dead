-- Inserts 1-3 contact methods per demo person (first an email, then phones or emails) plus the unresolved ones (person_id null).
with resolved as (
    select
        md5(%(salt)s || ':cm:' || plan.person_number || ':' || method.j)::uuid as id,
        plan.id as person_id,
        case when method.j = 1 then 'phone' else 'email' end as kind,
        case
            when method.j = 1
                then '+1-555-' || lpad(mod(plan.person_number, 10000000)::text, 7, '0')
            else
                'person'
                || plan.person_number
                || case when method.j = 2 then '.alt' else '' end
                || '@client'
                || plan.client_number
                || '.example'
        end as value
    from pg_temp.demo_people_plan as plan
    cross join lateral generate_series(0, plan.contact_method_count - 1) as method (j)
),

unresolved as (
    select
        md5(%(salt)s || ':ucm:' || gs.u)::uuid as id,
        null::uuid as person_id,
        case when mod(gs.u, 4) = 3 then 'phone' else 'email' end as kind,
        case
            when mod(gs.u, 4) = 3
                then '+44-20-' || lpad(gs.u::text, 8, '0')
            else 'unknown' || gs.u || '@' || %(salt)s || '.outside.example'
        end as value
    from generate_series(0, %(unresolved_contact_methods)s::bigint - 1) as gs (u)
),

all_methods as (
    select * from resolved
    union all
    select * from unresolved
)

insert into {source}.contact_methods (id, person_id, kind, value, created_at, updated_at)
select
    all_methods.id,
    all_methods.person_id,
    all_methods.kind,
    all_methods.value,
    %(start)s::timestamptz - interval '60 days' as created_at,
    %(start)s::timestamptz - interval '60 days' as updated_at
from all_methods;
