-- The read side alone: how many oracle pairs the join and DISTINCT produce, writing nothing.
select count(*)
from (
    {oracle}
) as oracle
