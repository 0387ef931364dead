-- The app reads one person by id.
-- Every column, as the app's ORM reads a row, whatever the table holds.
select person.* -- noqa: AM04
from {source}.people as person
where person.id = %(id)s
