-- Inserts the demo clients: unique codes and company-like names, created before any conversation.
with numbered as (
    select
        gs.n as client_number,
        hashtextextended(%(salt)s || ':client:' || gs.n, 0) & 9223372036854775807 as h
    from generate_series(0, %(clients)s::bigint - 1) as gs (n)
)

insert into {source}.clients (id, code, name, created_at, updated_at)
select
    md5(%(salt)s || ':client:' || numbered.client_number)::uuid as id,
    'CL-' || upper(substr(md5(%(salt)s || ':client-code:' || numbered.client_number), 1, 10)) as code,
    (array[
        'Acme', 'Globex', 'Initech', 'Umbrella', 'Hooli', 'Stark', 'Wayne', 'Wonka', 'Tyrell', 'Cyberdyne',
        'Soylent', 'Vandelay', 'Pied Piper', 'Aperture', 'Oscorp', 'Gringotts'
    ])[1 + mod(numbered.h, 16)]
    || ' '
    || (array[
        'Logistics', 'Health', 'Foods', 'Labs', 'Partners', 'Retail', 'Energy', 'Travel'
    ])[1 + mod(numbered.h / 16, 8)]
    || ' ' || (numbered.client_number + 1) as name,
    %(start)s::timestamptz - interval '90 days' as created_at,
    %(start)s::timestamptz - interval '90 days' as updated_at
from numbered;
