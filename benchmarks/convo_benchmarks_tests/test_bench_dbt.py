"""The bench's dbt contender: the project it generates for dbt, and, with dbt installed, the rows and indexes its
models build, equal to the link tables' definitions."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
import yaml
from psycopg import sql

from convo_benchmarks.bench_contenders import time_plain_floor
from convo_benchmarks.bench_dbt import PASSWORD_VARIABLE, dbt_model, run_dbt, write_dbt_project
from convo_benchmarks.bench_dbt_install import ensure_dbt
from convo_benchmarks.bench_oracles import FRONT_LINK_SPECS, contender_oracle_text
from convo_benchmarks.bench_scratch import Scratch
from convo_benchmarks.bench_verdicts import verdicts
from convo_pipelines.defs.links.jobs import FRONT_LINK_ASSETS
from convo_pipelines.lib.embedded.demo_seed import seed_demo
from convo_pipelines.lib.postgres.db import connect
from convo_pipelines_tests.conftest import ANALYTICS_SCHEMA, SOURCE_SCHEMA
from convo_pipelines_tests.source_data import expected_client_links, expected_people_links

CONVERSATIONS, DAYS = 200, 5
DBT_AIMS = ("asset steps", "whole `dagster asset materialize`")


@pytest.fixture
def scratch(database_url: str) -> Scratch:
    """A seeded database whose link tables hold the plain floor's rows, as when the bench's dbt contender runs."""
    with connect(database_url) as conn:
        seed_demo(
            conn,
            source_schema=SOURCE_SCHEMA,
            analytics_schema=ANALYTICS_SCHEMA,
            conversations=CONVERSATIONS,
            days=DAYS,
            seed=3,
            report=lambda line: None,
        )
        conn.commit()
    scratch = Scratch(database_url, SOURCE_SCHEMA, ANALYTICS_SCHEMA, "dagster")
    time_plain_floor(scratch)
    return scratch


def test_the_generated_project_models_each_definition_incrementally_on_its_grain(
    scratch: Scratch, tmp_path: Path
) -> None:
    write_dbt_project(tmp_path, scratch)
    project = yaml.safe_load((tmp_path / "dbt_project.yml").read_text())
    models = project["models"][project["name"]]
    assert models["+materialized"] == "incremental"
    for table in FRONT_LINK_ASSETS:
        grain = [FRONT_LINK_SPECS[table].owner_column, "front_conversation_id"]
        assert models[dbt_model(table)] == {
            "+unique_key": grain,
            "+indexes": [{"columns": grain, "unique": True}, {"columns": ["front_conversation_id"]}],
        }
        model = (tmp_path / "models" / f"{dbt_model(table)}.sql").read_text()
        assert contender_oracle_text(scratch, FRONT_LINK_SPECS[table]) in model
    # The profile names the scratch database and the variable dbt reads its password from, never a password.
    output = yaml.safe_load((tmp_path / "profiles.yml").read_text())[project["profile"]]["outputs"]["scratch"]
    with connect(scratch.url) as conn:
        assert (output["dbname"], output["schema"]) == (conn.info.dbname, SOURCE_SCHEMA)
    assert output["password"] == f"{{{{ env_var('{PASSWORD_VARIABLE}', '') }}}}"


# Installs dbt-postgres into its own virtualenv on first use (half a minute), then runs `dbt run` three times.
@pytest.mark.slow
def test_dbt_models_hold_the_definitions_rows_with_their_indexes_after_each_strategy(
    scratch: Scratch, tmp_path: Path
) -> None:
    dbt = ensure_dbt()
    write_dbt_project(tmp_path, scratch)
    build = run_dbt(dbt, tmp_path, scratch, "merge")
    assert 0 < build.models_seconds < build.whole_seconds
    for strategy in (None, "merge", "delete+insert"):
        if strategy is not None:
            run_dbt(dbt, tmp_path, scratch, strategy)
        with connect(scratch.url) as conn:
            expected_links = links_from_the_source_tables(conn)
            for table in FRONT_LINK_ASSETS:
                spec = FRONT_LINK_SPECS[table]
                columns = sql.SQL("select {}, front_conversation_id, front_conversation_created_at from {}").format(
                    sql.Identifier(spec.owner_column), sql.Identifier(SOURCE_SCHEMA, dbt_model(table))
                )
                built = conn.execute(columns).fetchall()
                expected = expected_links[table]
                assert expected and set(built) == expected and len(built) == len(expected), (strategy, table)
                indexes = conn.execute(
                    "select indexdef from pg_indexes where schemaname = %s and tablename = %s",
                    (SOURCE_SCHEMA, dbt_model(table)),
                ).fetchall()
                definitions = " ".join(row[0] for row in indexes)
                assert len(indexes) == 2 and "UNIQUE" in definitions, definitions
                assert f"({spec.owner_column}, front_conversation_id)" in definitions
                assert "(front_conversation_id)" in definitions


def links_from_the_source_tables(conn: psycopg.Connection) -> dict[str, set[tuple]]:
    """Each Front link table's rows over all time, (owner, conversation, its created_at), from the test's own
    reading of the source tables (source_data's oracle, plain Python over the fetched rows), never the product's SQL."""
    created = dict(
        conn.execute(
            sql.SQL("select id, created_at from {}").format(sql.Identifier(SOURCE_SCHEMA, "front_conversations"))
        ).fetchall()
    )
    pairs = {
        "people_front_conversations": expected_people_links(conn, SOURCE_SCHEMA),
        "clients_front_conversations": expected_client_links(conn, SOURCE_SCHEMA),
    }
    assert set(pairs) == set(FRONT_LINK_ASSETS)
    return {
        table: {(owner, conversation, created[conversation]) for owner, conversation in links}
        for table, links in pairs.items()
    }


def test_the_dbt_verdicts_compare_the_first_fill_with_dbts_first_build_or_say_why_dbt_was_left_out() -> None:
    def dbt_verdicts(figures: dict[str, float], left_out: dict[str, str] | None = None) -> list[str]:
        measurements = {key: {"median": value, "min": value, "max": value, "runs": 1} for key, value in figures.items()}
        run = {"measurements": measurements, "left_out": left_out or {}}
        return [verdict.line() for verdict in verdicts(run) if "dbt" in verdict.aim]

    fill = {"full_backfill_steps": 3.0, "full_backfill_whole": 12.0}
    steps, whole = dbt_verdicts({**fill, "dbt_build": 4.0, "dbt_build_whole": 10.0})
    assert DBT_AIMS[0] in steps and steps.startswith("MET ") and steps.endswith("0.75x (3.00 s against 4.00 s)")
    assert DBT_AIMS[1] in whole and whole.startswith("MISSED ") and whole.endswith("1.20x (12.00 s against 10.00 s)")
    reason = "pip install dbt-core==1.11.16 dbt-postgres==1.11.0 failed (exit 1): ERROR: No matching distribution"
    assert all(line.endswith(f": dbt left out: {reason}") for line in dbt_verdicts(fill, {"dbt": reason}))
    assert all(line.startswith("NOT MEASURED ") for line in dbt_verdicts(fill, {"dbt": reason}))
