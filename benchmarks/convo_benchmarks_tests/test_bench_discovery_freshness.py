"""The bench's discovery freshness on real runs: a few new sessions in a handful of crews, found by the real daemon's
discovery sensor.

No timing is asserted (timings belong to the bench's own output). What is asserted is that each sample's figure is
real: its session is the newest of its table and in histories_sessions with every message the test counts there,
written by the sensor's run that was created after the commit and started before the poll saw the summary, and the
figures recorded are the samples'.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest
from psycopg import sql

from convo_benchmarks.bench_context import BenchContext
from convo_benchmarks.bench_discovery import N8N_PREFIX, SAMPLE_MESSAGES, DiscoverySample, bench_discovery_freshness
from convo_benchmarks.bench_scratch import Scratch
from convo_benchmarks.bench_scratch_location import dagster_homes, dagster_storage
from convo_pipelines.defs.automation import SENSOR_NAME_TAG
from convo_pipelines.defs.histories.sensors import DISCOVERY_SENSOR_NAME
from convo_pipelines.lib.embedded.demo_seed import seed_demo
from convo_pipelines.lib.postgres.db import connect
from convo_pipelines_tests.conftest import ANALYTICS_SCHEMA, SOURCE_SCHEMA

# Two samples: the first in an n8n crew (dated by id), the second in a crew dated by created_at.
SAMPLES = 2
# Of five crews of the many-crews plan, crews 3 and 4 hold messages: the created_at crews a sample writes to.
CREWS = 5
DAYS = 2
SAMPLE_LINE = re.compile(r"discovery freshness \d+/\d+ \((?P<table>[^)]+)\): ")


@dataclass(frozen=True)
class SessionSeen:
    """What the test read when the bench reported a sample (before the bench removes its crews): the newest session
    of the sample's table, its messages there, and its histories_sessions rows (their message counts summed)."""

    sample_began_after: float  # the test's clock when the bench's line before the sample returned
    reported_at: float  # the test's clock when the bench reported the sample
    newest_session: str
    source_messages: int
    session_messages: int | None
    written_at: list[float]  # histories_sessions.updated_at of the session's days, epoch seconds


@dataclass
class SampleWatcher:
    """The bench's `report`: at each sample's line, reads the sample's session with the test's own SQL."""

    url: str
    seen: list[SessionSeen] = field(default_factory=list)
    last_line_at: float = field(default_factory=time.time)

    def report(self, line: str) -> None:
        reported_at = time.time()
        match = SAMPLE_LINE.match(line)
        if match:
            self.seen.append(read_session(self.url, match["table"], self.last_line_at, reported_at))
        self.last_line_at = time.time()


@dataclass
class Figures:
    """The bench's recorder: each key's recorded values and its last note."""

    values: dict[str, list[float]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    def record(self, key: str, name: str, unit: str, value: float, note: str = "") -> None:
        self.values.setdefault(key, []).append(value)
        self.notes[key] = note


def read_session(url: str, table: str, began_after: float, reported_at: float) -> SessionSeen:
    histories_table = sql.Identifier(SOURCE_SCHEMA, table)
    with connect(url, autocommit=True) as conn:
        [(session,)] = conn.execute(
            sql.SQL("select session_id::text from {} order by id desc limit 1").format(histories_table)
        ).fetchall()
        [(messages,)] = conn.execute(
            sql.SQL("select count(*) from {} where session_id::text = %s").format(histories_table), (session,)
        ).fetchall()
        [(counted, written_at)] = conn.execute(
            sql.SQL(
                "select sum(message_count)::integer, coalesce(array_agg(extract(epoch from updated_at)::float8), '{{}}')"
                " from {} where session_id = %s"
                " and crew_code = (select code from {} where histories_table_name = %s)"
            ).format(sql.Identifier(ANALYTICS_SCHEMA, "histories_sessions"), sql.Identifier(SOURCE_SCHEMA, "crews")),
            (session, table),
        ).fetchall()
    return SessionSeen(began_after, reported_at, session, messages, counted, written_at)


def first_sensor_run(instance: dg.DagsterInstance, committed: float) -> dg.RunRecord | None:
    """The discovery sensor's first run created after `committed` (epoch seconds), read from Dagster's storage."""
    records = instance.get_run_records(
        filters=dg.RunsFilter(
            tags={SENSOR_NAME_TAG: DISCOVERY_SENSOR_NAME}, created_after=datetime.fromtimestamp(committed, UTC)
        )
    )
    return min(records, key=lambda record: record.create_timestamp, default=None)


def parts_of(sample: DiscoverySample, run: dg.RunRecord) -> dict[str, float]:
    """The sample's seconds split at the run's creation and start: sensor, queue, run."""
    created = run.create_timestamp.timestamp()
    return {
        "sensor": created - sample.committed,
        "queue": run.start_time - created,
        "run": sample.right_at - run.start_time,
    }


# A dagster-daemon, a `dagster asset materialize` and a run per sample: about a minute.
@pytest.mark.slow
def test_each_discovery_sample_times_its_session_from_the_commit_to_the_sensor_runs_write(
    database_url: str, tmp_path: Path
) -> None:
    scratch = Scratch(database_url, SOURCE_SCHEMA, ANALYTICS_SCHEMA, "dagster")
    with connect(database_url) as conn:
        seed_demo(
            conn,
            source_schema=SOURCE_SCHEMA,
            analytics_schema=ANALYTICS_SCHEMA,
            conversations=20,
            days=DAYS,
            seed=5,
            report=lambda line: None,
        )
        conn.commit()
    watcher, figures = SampleWatcher(database_url), Figures()
    with dagster_storage(scratch):
        project_home, stock_home = dagster_homes(tmp_path)
        end = datetime.now(UTC).replace(second=0, microsecond=0)
        bench = BenchContext(scratch, project_home, stock_home, end, DAYS, 1, watcher.report, log_dir=tmp_path)
        samples = bench_discovery_freshness(bench, figures, samples=SAMPLES, crews=CREWS)
        with dg.DagsterInstance.from_config(str(project_home)) as instance:
            runs = [first_sensor_run(instance, sample.committed) for sample in samples]

    assert len(samples) == len(watcher.seen) == SAMPLES
    assert [sample.table.startswith(N8N_PREFIX) for sample in samples] == [True, False]
    for sample, seen, run in zip(samples, watcher.seen, runs, strict=True):
        # The sample's session is the one the bench wrote last, and histories_sessions holds all its messages.
        assert seen.newest_session == sample.session_id
        assert seen.source_messages == seen.session_messages == SAMPLE_MESSAGES
        # Its commit and the poll that saw it right fall within the sample; between them the sensor's run was
        # created, started, and wrote the session's rows.
        assert sample.right_at is not None and run is not None and run.start_time is not None
        assert seen.sample_began_after <= sample.committed <= sample.right_at <= seen.reported_at
        assert sample.committed <= run.create_timestamp.timestamp() <= run.start_time
        assert seen.written_at and run.start_time <= min(seen.written_at) <= max(seen.written_at) <= sample.right_at
        assert sample.seconds == sample.right_at - sample.committed
    seconds = sorted(sample.seconds for sample in samples)
    # Of two samples, the nearest-rank p50 is the smaller, the p95 the larger.
    assert figures.values["discovery_freshness_p50"] == [seconds[0]]
    assert figures.values["discovery_freshness_p95"] == figures.values["discovery_freshness_max"] == [seconds[-1]]
    assert figures.notes["discovery_freshness_max"] == f"{SAMPLES} sessions, half in n8n crews (dated by id); missed: 0"
    parts = [parts_of(sample, run) for sample, run in zip(samples, runs, strict=True)]
    for part in ("sensor", "queue", "run"):
        values = sorted(split[part] for split in parts)
        assert figures.values[f"discovery_freshness_part_{part}_p50"] == pytest.approx([values[0]])
        assert figures.values[f"discovery_freshness_part_{part}_p95"] == pytest.approx([values[-1]])
