-- The plain set-based floor: every oracle pair in one INSERT ... SELECT DISTINCT into the indexed link table with its foreign keys.
with oracle as (
    {oracle}
)

insert into {source}.{links} ({owner}, front_conversation_id, front_conversation_created_at)
select
    oracle.{owner},
    oracle.front_conversation_id,
    oracle.front_conversation_created_at
from oracle
on conflict ({owner}, front_conversation_id) do nothing
