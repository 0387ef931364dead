-- Inserts the demo people from the people plan, each attached to its client.
insert into {source}.people (id, client_id, name, created_at, updated_at)
select
    plan.id,
    md5(%(salt)s || ':client:' || plan.client_number)::uuid as client_id,
    (array[
        'Ada', 'Ben', 'Chloe', 'Dev', 'Elena', 'Farid', 'Grace', 'Hugo', 'Ines', 'Jonas',
        'Kira', 'Liam', 'Maya', 'Noah', 'Olga', 'Pablo', 'Qi', 'Rosa', 'Sam', 'Tara',
        'Umar', 'Vera', 'Wes', 'Xena', 'Yusuf', 'Zoe', 'Aiko', 'Bruno', 'Carmen', 'Dmitri',
        'Emeka', 'Fatima', 'Goran', 'Hana', 'Ivan', 'Jade', 'Kofi', 'Lena', 'Mateo', 'Nadia'
    ])[1 + plan.first_name_number]
    || ' '
    || (array[
        'Smith', 'Garcia', 'Chen', 'Okafor', 'Muller', 'Rossi', 'Kowalski', 'Silva', 'Nguyen', 'Khan',
        'Dubois', 'Jensen', 'Tanaka', 'Haddad', 'Ivanova', 'Lopez', 'Novak', 'Brown', 'Costa', 'Park',
        'Singh', 'Moreau', 'Sato', 'Ali', 'Berg', 'Cohen', 'Diaz', 'Evans', 'Fischer', 'Gomez',
        'Horvat', 'Ito', 'Jovanovic', 'Kim', 'Larsen', 'Mendes', 'Nakamura', 'Olsen', 'Petrov', 'Quinn'
    ])[1 + plan.last_name_number]
        as name,
    %(start)s::timestamptz - interval '60 days' as created_at,
    %(start)s::timestamptz - interval '60 days' as updated_at
from pg_temp.demo_people_plan as plan;
