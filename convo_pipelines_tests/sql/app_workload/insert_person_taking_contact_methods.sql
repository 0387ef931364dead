-- The app re-creates a person: a new person of the same client takes over the old one's contact methods; returns the new id (none when the old one is gone).
with newcomer as (
    insert into {source}.people (client_id, name)
    select
        person.client_id,
        person.name
    from {source}.people as person
    where person.id = %(id)s
    returning id
),

handed_over as (
    update {source}.contact_methods as contact_method
    set person_id = newcomer.id, updated_at = now()
    from newcomer
    where contact_method.person_id = %(id)s
    returning contact_method.id
)

select
    newcomer.id,
    (select count(*) from handed_over) as contact_methods
from newcomer
