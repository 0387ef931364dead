-- Gives a diff's hash joins enough memory to stay in RAM, and prices random reads as on SSD or cached storage: a scoped project reconcile's, and a Front diff's of a few owners or conversations, which then reaches their links' conversations through the primary key rather than scan every conversation of the window.
set local work_mem = '256MB';
set local random_page_cost = 1.1
