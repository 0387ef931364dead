-- Creates the fresh storage a never-filled link table is built in, holding its rows: a CREATE TABLE AS of the table's oracle query, which PostgreSQL runs in parallel (an INSERT ... SELECT never is), each column as the link table has it (the oracle's, or its default).
create table {source}.{fill} as
select {columns}
from (
    {rows}
) as staged
