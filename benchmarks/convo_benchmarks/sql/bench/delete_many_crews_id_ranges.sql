-- Removes the message times the pipeline kept for the benchmark's crews dated by id (code prefix %(prefix)s).
delete from {analytics}.histories_id_ranges as id_range
where starts_with(id_range.crew_code, %(prefix)s)
