"""The discovery sensor: a new session reaches histories_sessions and conversation_summaries within seconds.

Every tick (CONVERSATION_DISCOVERY_SENSOR_SECONDS) reads, per crew, a marker of its table's newest row: the table's
relfilenode (from the one catalog read of every crew's table) and its greatest id (the primary key's end), else its
greatest created_at (that index's end), one probe per crew whatever its rows, PROBE_CREWS_PER_STATEMENT crews a
statement. The crews whose marker differs from the
cursor's (a JSON object, crew code -> marker) get ONE discovery run of today (only_new_messages, only_crews), which
merges each crew in its own transaction, so a bad crew stops nobody; the run goes through the run queue and its
steps through the database pool like any run. A crew whose table has neither index is left to the schedule.
"""

import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import dagster as dg
import psycopg
from psycopg import sql

from convo_pipelines.defs.automation import background_status, has_run_waiting_to_start, sensor_minimum_interval
from convo_pipelines.defs.histories.crews import ID_TYPES, HistoriesTable, inspect_crews, load_crews
from convo_pipelines.defs.histories.crews_to_read import PROBE_CREWS_PER_STATEMENT
from convo_pipelines.defs.histories.jobs import HISTORIES_ASSETS, conversation_discovery_job
from convo_pipelines.defs.partitions import partition_range_tags
from convo_pipelines.defs.resources import PostgresResource
from convo_pipelines.lib.errors import first_line
from convo_pipelines.lib.postgres.session import Session
from convo_pipelines.lib.settings import get_settings
from convo_pipelines.lib.writing.transactions import LATE_COMMIT_ALLOWANCE, pipeline_transaction

DISCOVERY_SENSOR_NAME = "conversation_discovery_sensor"


def marker_column(table: HistoriesTable) -> str | None:
    """The indexed column whose greatest value marks the table's newest row: id (integer, leading an index), else
    created_at when indexed; None when neither (the schedule discovers such a crew)."""
    if table.id_indexed and table.id_type in ID_TYPES:
        return "id"
    return "created_at" if table.created_at_indexed else None


def newest_rows(session: Session, tables: Sequence[HistoriesTable], log: Callable[[str], object]) -> dict[str, str]:
    """Crew code -> the marker of its table's newest row, PROBE_CREWS_PER_STATEMENT crews a statement, each statement in
    its own transaction (each holds a lock per table and index until it ends). A statement that fails (a table dropped
    since the catalog was read, say) is retried crew by crew, and a crew whose probe fails is left out."""
    markers: dict[str, str] = {}
    for first in range(0, len(tables), PROBE_CREWS_PER_STATEMENT):
        chunk = tables[first : first + PROBE_CREWS_PER_STATEMENT]
        try:
            markers.update(_probe(session, chunk))
        except psycopg.Error:
            if session.conn.broken:
                raise
            for table in chunk:
                try:
                    markers.update(_probe(session, [table]))
                except psycopg.Error as exc:
                    if session.conn.broken:
                        raise
                    log(f"crew {table.crew.code} not probed: {first_line(exc)}")
    return markers


def _probe(session: Session, tables: Sequence[HistoriesTable]) -> dict[str, str]:
    """Each crew's marker: its table's relfilenode (from the catalog read) and its indexed column's greatest value."""
    probes = sql.SQL(",\n").join(
        sql.SQL("({})").format(
            session.sql(
                "histories/select_crew_newest_row.sql",
                histories_table=table.crew.histories_table_name,
                marker_column=marker_column(table),
            )
        )
        for table in tables
    )
    with pipeline_transaction(session.conn):
        [values] = session.execute(
            session.sql("histories/select_crews_newest_rows.sql", newest_row_probes=probes)
        ).fetchone()
    return {table.crew.code: f"{table.table_node}:{value or ''}" for table, value in zip(tables, values, strict=True)}


def probed_tables(session: Session) -> tuple[list[HistoriesTable], list[str]]:
    """The readable crews' tables a tick can probe, and the codes of those it cannot (no index to probe)."""
    with pipeline_transaction(session.conn):
        tables = inspect_crews(session.conn, session.source_schema, load_crews(session.conn, session.source_schema))
    readable = [table for table in tables if table.is_valid]
    return [t for t in readable if marker_column(t)], [t.crew.code for t in readable if not marker_column(t)]


def discovery_run_request(crews: list[str], markers: dict[str, str], now: datetime) -> dg.RunRequest:
    """ONE discovery run of the crews: today's partition, only their new messages; from yesterday (each crew's two
    days recomputed fully) while a message of yesterday may still commit. The run key names the crews' markers: the
    same change always asks for the same run."""
    first_key = (now - LATE_COMMIT_ALLOWANCE).astimezone(UTC).date().isoformat()
    last_key = now.astimezone(UTC).date().isoformat()
    scope = {"only_crews": crews, "only_new_messages": first_key == last_key}
    digest = hashlib.sha256(json.dumps({crew: markers[crew] for crew in crews}, sort_keys=True).encode()).hexdigest()
    return dg.RunRequest(
        run_key=f"new-rows:{first_key}...{last_key}:{digest[:32]}",
        tags=partition_range_tags(first_key, last_key),
        run_config={"ops": {asset: {"config": scope} for asset in HISTORIES_ASSETS}},
    )


@dg.sensor(
    name=DISCOVERY_SENSOR_NAME,
    job=conversation_discovery_job,
    minimum_interval_seconds=sensor_minimum_interval(get_settings().conversation_discovery_sensor_seconds),
    default_status=background_status(dg.DefaultSensorStatus),
    description="Requests a discovery run of today's new messages for exactly the crews whose table has a new row "
    "since its previous tick (per crew one probe of its id or created_at index).",
)
def conversation_discovery_sensor(context: dg.SensorEvaluationContext, postgres: PostgresResource) -> dg.SensorResult:
    """Compares each crew's newest-row marker with the cursor's and requests one only-new-messages run of the crews
    whose marker changed. The first tick only sets the cursor (the schedule covers the past)."""
    previous = json.loads(context.cursor) if context.cursor else None
    if previous is not None and has_run_waiting_to_start(context.instance, DISCOVERY_SENSOR_NAME):
        # The cursor stays: the first tick after the queue launches that run asks for every crew changed since, in one run.
        return dg.SensorResult(
            skip_reason="Waiting for this sensor's previous run to leave the run queue.", cursor=context.cursor
        )
    with postgres.session() as session:
        session.conn.read_only = True
        tables, unprobed = probed_tables(session)
        markers = newest_rows(session, tables, context.log.warning)
        now = session.execute(session.sql("histories/select_database_clock.sql")).fetchone()[0]
        session.conn.commit()
    if unprobed:
        context.log.info(
            f"{len(unprobed)} crews without an id or created_at index are left to the schedule: {unprobed}"
        )
    if previous is None:
        return dg.SensorResult(skip_reason="First tick: new rows are tracked from now on.", cursor=json.dumps(markers))
    changed = sorted(crew for crew, marker in markers.items() if previous.get(crew) != marker)
    if not changed:
        return dg.SensorResult(skip_reason="No crew has a new row since the last tick.", cursor=json.dumps(markers))
    context.log.info(f"{len(changed)} crews with a new row: {changed[:20]}")
    return dg.SensorResult(run_requests=[discovery_run_request(changed, markers, now)], cursor=json.dumps(markers))


discovery_sensors = [conversation_discovery_sensor]
