-- Creates the fresh storage a never-filled link table is built in, holding its rows: a CREATE TABLE AS of the table's oracle query, which PostgreSQL runs in parallel (an INSERT ... SELECT never is), each column as the link table has it (the oracle's, or its default, or a numbered id: numbered_fill_id.sql). The rows are numbered in the leader (a window function never runs in a parallel worker), where the Front oracles' DISTINCT ends anyway.
create table {source}.{fill} as
select {columns}
from (
    select row_number() over () as fill_row_number, oracle.*
    from (
        {rows}
    ) as oracle
) as staged
