-- Gives this transaction's hash joins and DISTINCT enough memory to stay in RAM, and prices random reads as on SSD or cached storage so a small window walks the indexes instead of scanning every recipient.
set local work_mem = '256MB';
set local random_page_cost = 1.1
