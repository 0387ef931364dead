"""The link checks that only WARN: the projects' arrays against project_id, and the late-change indexes
the sensor's reads need, named with the statement that makes each."""

import re
import uuid
from datetime import UTC, datetime, timedelta

import dagster as dg
import psycopg
from psycopg import sql

from convo_pipelines.defs.links import tick_changes
from convo_pipelines.defs.links.change_fingerprints import change_fingerprints_query
from convo_pipelines.lib.postgres.session import Session
from convo_pipelines_tests.links.checks.check_runs import SCHEMA, count, fix_project_arrays, run_checks_alone, samples
from convo_pipelines_tests.source_data import expected_array_inconsistencies

CHANGE_WATCHED_TABLES = (
    "contact_methods",
    "conversations",
    "front_conversations",
    "front_message_recipients",
    "front_messages",
    "people",
    "projects",
)


def test_array_consistency_warns_with_the_stale_mismatched_and_missing_entries(built, postgres, db):
    expected = expected_array_inconsistencies(db, SCHEMA)
    assert all(expected.values()), "the dataset has every kind of drift"
    warning = built[("project_conversations", "array_consistency")]
    assert not warning.passed
    assert warning.severity == dg.AssetCheckSeverity.WARN
    for kind, entries in expected.items():
        assert count(warning, kind) == len(entries)
        sampled = {(uuid.UUID(s["project_id"]), uuid.UUID(s["conversation_id"])) for s in samples(warning, kind)}
        assert sampled <= entries and len(sampled) == min(5, len(entries))
    # After the run it reports what the run measured with the same SQL; launched alone it compares the arrays itself.
    assert warning.metadata["scope"].value == "as this run's materialization measured it"
    alone = run_checks_alone(postgres, "project_conversations")[("project_conversations", "array_consistency")]
    assert alone.metadata["scope"].value == "whole table" and not alone.passed
    assert {kind: count(alone, kind) for kind in expected} == {kind: len(entries) for kind, entries in expected.items()}

    fix_project_arrays(db)
    assert run_checks_alone(postgres, "project_conversations")[("project_conversations", "array_consistency")].passed


def test_late_change_indexes_names_each_table_with_its_statement_and_the_sensor_uses_them(
    built, postgres, db, db_session
):
    warning = built[("people_front_conversations", "late_change_indexes")]
    assert not warning.passed and warning.severity == dg.AssetCheckSeverity.WARN
    statements = samples(warning, "tables_without_change_index")
    assert count(warning, "tables_without_change_index") == len(statements) == len(CHANGE_WATCHED_TABLES)
    assert statements == [
        f"create index concurrently {table}_changed_at_idx on public.{table} ((greatest(created_at, updated_at)))"
        for table in CHANGE_WATCHED_TABLES
    ]

    # What a DBA runs, as the check gives it (CONCURRENTLY: outside a transaction).
    db.commit()
    with psycopg.connect(db.info.dsn, autocommit=True) as dba:
        for statement in statements:
            dba.execute(statement)
    after = run_checks_alone(postgres, "people_front_conversations")[
        ("people_front_conversations", "late_change_indexes")
    ]
    assert after.passed and count(after, "tables_without_change_index") == 0

    # The sensor's reads of those tables can now be index range scans: with sequential scans priced out,
    # the plan reads every watched table through its new index and none in full.
    plan = explain_late_change_sensor(db_session)
    scanned = {table for table in CHANGE_WATCHED_TABLES if re.search(rf"\b(on|using) {table}_changed_at_idx\b", plan)}
    assert scanned == set(CHANGE_WATCHED_TABLES), plan
    assert "Seq Scan" not in plan, plan


def explain_late_change_sensor(session: Session) -> str:
    """The plans of both statements of a sensor tick (the fingerprints of every watched table, then the Front days)."""
    now = datetime.now(UTC)
    fingerprints, fingerprint_params = change_fingerprints_query(session, now - timedelta(minutes=5))
    day_ranges_params = {
        "changed_after": now - timedelta(minutes=5),
        "partitions_start": datetime(2024, 1, 1, tzinfo=UTC),
        "partitions_end": now,
        "max_named_conversations": tick_changes.MAX_NAMED_CONVERSATIONS,
        "whole_range_per_named_conversation": tick_changes.WHOLE_RANGE_PER_NAMED_CONVERSATION,
        "bucket_seconds": 2,
        "changed_buckets": [int(now.timestamp()) // 2],
        "newest_bucket_stamp": now,
    }
    statements = [
        (fingerprints, fingerprint_params),
        (session.sql("links/sensor/find_late_changed_front_day_ranges.sql"), day_ranges_params),
    ]
    with session.conn.transaction():
        session.execute("set local enable_seqscan = off")
        rows = [
            row
            for statement, params in statements
            for row in session.execute(sql.SQL("explain ") + statement, params).fetchall()
        ]
    return "\n".join(row[0] for row in rows)
