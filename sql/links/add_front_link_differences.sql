-- Adds to pg_temp.front_link_differences how the links of more conversations differ from their defined pairs (select_front_link_differences.sql): a batch's conversations diffed again.
insert into pg_temp.front_link_differences
{differences}
