-- Gives the greatest value (as text) of one crew's histories table's indexed column (id, else created_at; bound as an
-- identifier): one probe of the index's end whatever the table's size. One element of select_crews_newest_rows.sql.
select history.{marker_column}::text as newest_row
from {source}.{histories_table} as history
where history.{marker_column} is not null
order by history.{marker_column} desc
limit 1
