-- The app reads one Front conversation by id.
-- Every column, as the app's ORM reads a row, whatever the table holds.
select conversation.* -- noqa: AM04
from {source}.front_conversations as conversation
where conversation.id = %(id)s
