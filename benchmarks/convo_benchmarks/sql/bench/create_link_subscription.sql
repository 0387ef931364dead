-- Subscribes the bench's subscriber to the upstream's publication; copy_data = false: both copies are empty when it starts, before a first fill. DDL takes no parameters: the connection string is bound client-side.
-- The connection string is a string literal, which sqlfluff's templater renders as a number: the grammar refuses it.
create subscription {subscription} connection %(conninfo)s publication {publication} with (copy_data = false) -- noqa: PRS
