-- The app reads one person by id.
select person.*
from {source}.people as person
where person.id = %(id)s
