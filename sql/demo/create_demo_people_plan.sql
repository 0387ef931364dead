-- Plans the demo people (25 per client, client = person number / 25) and how many contact methods each has (1-3).
create temp table demo_people_plan on commit drop as
with numbered as (
    select
        gs.n as person_number,
        hashtextextended(%(salt)s || ':person:' || gs.n, 0) & 9223372036854775807 as h
    from generate_series(0, %(people)s::bigint - 1) as gs (n)
)

select
    numbered.person_number,
    md5(%(salt)s || ':person:' || numbered.person_number)::uuid as id,
    numbered.person_number / 25 as client_number,
    1 + mod(numbered.h, 3)::int as contact_method_count,
    mod(numbered.h / 3, 40)::int as first_name_number,
    mod(numbered.h / 120, 40)::int as last_name_number
from numbered;
