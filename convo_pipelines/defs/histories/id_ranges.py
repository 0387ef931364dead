"""Crews whose histories table has no created_at but an integer id (n8n's own table): messages dated by id.

The agents' table is never altered: the first run that sees an id records it in a range of ids seen together
(analytics.histories_id_ranges, record_crew_id_range.sql), and a message's time is its range's seen_at from then
on, the same at every later run. Every statement that reads a crew's rows reads histories_rows(): the table itself,
or for such a crew its rows that a range holds, dated by it (select_id_dated_rows.sql). docs/contract.md says what
the times mean and how precise they are.
"""

from psycopg import sql

from convo_pipelines.defs.histories.crews import HistoriesTable
from convo_pipelines.lib.postgres.session import Session


def histories_rows(session: Session, table: HistoriesTable) -> sql.Composable:
    """What the statements reading the crew's rows read (bound as {histories_rows}), with a created_at column."""
    if not table.dated_by_id:
        return sql.SQL("{}.{}").format(
            sql.Identifier(session.source_schema), sql.Identifier(table.crew.histories_table_name)
        )
    rows = session.sql("histories/select_id_dated_rows.sql", histories_table=table.crew.histories_table_name)
    return sql.SQL("({})").format(rows)


def quoted_table_name(session: Session, table: HistoriesTable) -> str:
    """The crew's table as schema.table, each part quoted: what regclass and pg_get_serial_sequence take."""
    return sql.Identifier(session.source_schema, table.crew.histories_table_name).as_string(session.conn)


def record_id_range(session: Session, table: HistoriesTable) -> dict[str, object]:
    """Record the ids of the crew's table no range holds yet as one range seen now (nothing for a crew dated by
    created_at); returns whether its ids restarted, whether its table was rewritten, and the ids recorded."""
    if not table.dated_by_id:
        return {}
    cursor = session.execute(
        session.sql("histories/record_crew_id_range.sql", histories_table=table.crew.histories_table_name),
        {"crew_code": table.crew.code, "quoted_table": quoted_table_name(session, table)},
    )
    return dict(zip([column.name for column in cursor.description], cursor.fetchone(), strict=True))
