-- Bulk-loads the oracle pairs of a window into an empty link table (its indexes and constraints are rebuilt afterwards).
insert into {source}.{links} ({owner}, front_conversation_id, front_conversation_created_at)
select oracle.{owner}, oracle.front_conversation_id, oracle.front_conversation_created_at
from (
    {oracle}
) as oracle
