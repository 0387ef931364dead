-- Gives the rest of this transaction's staging of a link table's rows (a CREATE TABLE AS of its oracle) memory for its hashes, and parallel workers the planner does not price out.
-- At the default price of 0.1 per row passed from a worker to the leader, or with random reads priced
-- as cheaply as the project reconcile prices them, the planner keeps the DISTINCT of millions of pairs in
-- one process: 46 s at 1,000,000 conversations on 2 cores, against 25 s with these settings. A small
-- window still walks the indexes at the server's own price of random reads.
set local work_mem = '256MB';
set local parallel_tuple_cost = 0.01;
set local random_page_cost to default
