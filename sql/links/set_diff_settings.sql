-- Gives the project reconcile's hash joins enough memory to stay in RAM, and prices random reads as on SSD or cached storage.
set local work_mem = '256MB';
set local random_page_cost = 1.1
