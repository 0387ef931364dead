-- Drops histories_id_ranges: the message times of the crews without created_at are lost with it.
drop table {analytics}.histories_id_ranges;
