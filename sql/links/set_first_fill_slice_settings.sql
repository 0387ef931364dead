-- Gives the rest of a first fill's slice transaction memory to sort its links in: insert_first_fill_front_links.sql sorts a slice's staged pairs by position, the order their ids ascend in, about 130 bytes a link.
-- At the server's default 4 MB of work_mem, a slice of max_fill_slice_links (100,000) spills that sort to
-- disk; with this it stays in memory up to about 500,000 links. The slice's transaction does nothing else.
set local work_mem = '64MB'
