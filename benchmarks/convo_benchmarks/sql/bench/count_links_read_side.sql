-- The read side alone: how many oracle pairs the join and DISTINCT produce, writing nothing.
with oracle as (
    {oracle}
)

select count(*)
from oracle
