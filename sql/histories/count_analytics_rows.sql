-- Counts every row of one analytics table or view (only for runs that cover the whole time line).
select count(*)
from {analytics}.{relation}
