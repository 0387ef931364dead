-- Lists the rows of one crew's histories table dated by id (no created_at column) that a range of histories_id_ranges holds,
-- each with its range's seen_at as its created_at: what the statements reading the crew's rows read in place of its table.
-- A window's rows are its ranges' (the (crew_code, seen_at) index), each range a scan of the table's primary key.
select
    history_row.id,
    history_row.session_id,
    history_row.message,
    id_range.seen_at as created_at
from {analytics}.histories_id_ranges as id_range
inner join {source}.{histories_table} as history_row
    on history_row.id between id_range.from_id and id_range.to_id
where id_range.crew_code = %(crew_code)s
