-- Gives one crew (its code and its table's quoted name bound as values) with a marker of its histories table's newest
-- row: the table's relfilenode and the greatest value of an indexed column (id, else created_at; bound as an identifier),
-- one probe of the index's end whatever the table's size. One branch of select_crews_newest_rows.sql.
select
    {crew} as crew_code,
    pg_catalog.pg_relation_filenode({quoted_table}::regclass)::text
    || ':'
    || coalesce(
        (select max(history.{marker_column})::text from {source}.{histories_table} as history), ''
    ) as newest_row
