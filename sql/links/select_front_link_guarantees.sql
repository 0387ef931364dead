-- The duplicate and orphan problems of a Front link table that its constraints rule out now: the rows guaranteed_no_front_link_duplicates.sql and guaranteed_no_front_link_orphans.sql give (problem, 0, no samples, the constraint). Read by the run that wrote the table, after its writes and foreign keys, and recorded in its materialization for the checks that follow it.
(
    {duplicates}
)
union all
(
    {orphans}
)
