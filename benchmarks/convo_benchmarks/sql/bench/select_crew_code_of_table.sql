-- Gives the code of the crew whose histories table is %(table)s.
select crew.code
from {source}.crews as crew
where crew.histories_table_name = %(table)s
