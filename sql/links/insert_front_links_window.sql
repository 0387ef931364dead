-- Bulk-loads the oracle pairs of a window into an empty link table (its indexes and constraints are rebuilt afterwards).
insert into {source}.{links} ({owner}, front_conversation_id)
select oracle.{owner}, oracle.front_conversation_id
from (
    {oracle}
) as oracle
