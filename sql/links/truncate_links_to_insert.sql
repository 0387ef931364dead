-- Empties the diff's temporary table of missing links and numbers the next ones from 1 again.
truncate pg_temp.links_to_insert restart identity
