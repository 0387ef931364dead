"""The dbt contender: each Front link join as a dbt incremental model (unique_key on the grain, a unique index on it
and one by conversation, in its model config), in a dbt project generated in a temporary folder and built by
`dbt run` in a process of its own against the scratch database, dbt-postgres in a virtualenv of its own.

A model's SQL is the project's definition (bench_oracles.contender_oracle_text), as the other contenders', so only
how the rows are written differs. The clients' model reads the people link table as the materialized views' does,
which then holds the plain floor's rows. A model's first build creates its table from the select (whatever the
incremental strategy); a `dbt run` after it, nothing changed, merges every row again by the strategy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from convo_benchmarks.bench_context import BenchContext
from convo_benchmarks.bench_dbt_install import DbtUnavailable, ensure_dbt
from convo_benchmarks.bench_oracles import FRONT_LINK_SPECS, contender_oracle_text
from convo_benchmarks.bench_records import BenchReport
from convo_benchmarks.bench_scratch import Scratch
from convo_benchmarks.bench_scratch_sql import server_activity_since, wal_and_requested_checkpoints
from convo_pipelines.defs.links.jobs import FRONT_LINK_ASSETS
from convo_pipelines.lib.postgres.db import connect
from convo_pipelines.lib.postgres.urls import scrub_secrets

DBT_PROJECT = "convo_link_contender"
DBT_PROFILE = "convo_bench"
# dbt reads the password from this variable, which it never prints (the DBT_ENV_SECRET_ prefix): the generated
# profile names the variable, not the password.
PASSWORD_VARIABLE = "DBT_ENV_SECRET_PASSWORD"
# MERGE came with PostgreSQL 15; dbt-postgres' `merge` strategy runs it.
MERGE_SERVER_VERSION = 150000
# The models run one after the other, as the project's two assets and the materialized views do.
DBT_THREADS = 1
# No telemetry, no version check over the network, no colour codes in the output a failure is read from.
DBT_ENVIRONMENT = {"DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DBT_VERSION_CHECK": "false", "DBT_USE_COLORS": "false"}


def dbt_model(table: str) -> str:
    """The dbt model (and the table it builds) standing for a Front link table."""
    return f"{table}_dbt"


@dataclass(frozen=True)
class DbtRun:
    models_seconds: float  # the models' own time, as dbt reports it (each model's execution_time)
    whole_seconds: float  # the `dbt run` process, from its start to its end (parsing the project included)


def bench_dbt(bench: BenchContext, result: BenchReport) -> None:
    """`repeats` first builds of the dbt models (their time, the whole command's, the WAL), each followed by a
    `dbt run` with nothing changed per incremental strategy the server has; left out, with why, when dbt cannot
    be installed or run here."""
    scratch, report = bench.scratch, bench.report
    report("the contender: dbt incremental models of the link joins, `dbt run`")
    try:
        dbt = ensure_dbt()
        with connect(scratch.url) as conn:
            has_merge = conn.info.server_version >= MERGE_SERVER_VERSION
        strategies = ("merge", "delete+insert") if has_merge else ("delete+insert",)
        if not has_merge:
            result.left_out["dbt's merge strategy"] = "the server is older than PostgreSQL 15, which brought MERGE"
        with tempfile.TemporaryDirectory(prefix="convo_dbt_") as folder:
            write_dbt_project(Path(folder), scratch)
            try:
                for attempt in range(bench.repeats):
                    report(
                        f"  dbt: a first build, then a run with nothing changed per strategy ({attempt + 1}/{bench.repeats})"
                    )
                    _measure(bench, result, dbt, Path(folder), strategies)
            finally:
                drop_dbt_models(scratch)
    except DbtUnavailable as exc:
        reason = scrub_secrets(str(exc), scratch.url)
        report(f"the dbt contender is left out: {reason}")
        result.left_out["dbt"] = reason


def _measure(bench: BenchContext, result: BenchReport, dbt: Path, folder: Path, strategies: tuple[str, ...]) -> None:
    scratch = bench.scratch
    drop_dbt_models(scratch)
    # Each build parses the project afresh, as the first `dbt run` of a checkout does.
    shutil.rmtree(folder / "target", ignore_errors=True)
    bench.settle()
    before = wal_and_requested_checkpoints(scratch)
    build = run_dbt(dbt, folder, scratch, strategies[0])
    wal = server_activity_since(scratch, before)["wal_written_mb"]
    what = "dbt incremental model of each link join + its indexes, first build"
    result.record("dbt_build", f"{what}: the models' own time (dbt's timings)", "s", build.models_seconds)
    result.record("dbt_build_whole", f"{what}: the whole `dbt run` (process start included)", "s", build.whole_seconds)
    result.record("dbt_build_wal", f"{what}: WAL the server wrote", "MB", wal)
    for strategy in strategies:
        bench.settle()
        before = wal_and_requested_checkpoints(scratch)
        rerun = run_dbt(dbt, folder, scratch, strategy)
        wal = server_activity_since(scratch, before)["wal_written_mb"]
        key, what = f"dbt_{strategy.replace('+', '_')}_rerun", f"dbt incremental models ({strategy}), nothing changed"
        result.record(key, f"{what}: the models' own time (dbt's timings)", "s", rerun.models_seconds)
        result.record(f"{key}_wal", f"{what}: WAL the server wrote", "MB", wal)


def write_dbt_project(folder: Path, scratch: Scratch) -> None:
    """A dbt project in `folder`: a model per Front link table (its SQL the table's definition), their configs in the
    project's file, and a profile pointing at the scratch database (the password left to PASSWORD_VARIABLE)."""
    models = folder / "models"
    models.mkdir(parents=True, exist_ok=True)
    configs = {}
    for table in FRONT_LINK_ASSETS:
        spec = FRONT_LINK_SPECS[table]
        # {% raw %}: the SQL is dbt's to run, not Jinja's to render.
        (models / f"{dbt_model(table)}.sql").write_text(
            "{% raw %}\n" + contender_oracle_text(scratch, spec) + "\n{% endraw %}\n", encoding="utf-8"
        )
        grain = [spec.owner_column, "front_conversation_id"]
        configs[dbt_model(table)] = {
            "+unique_key": grain,
            "+indexes": [{"columns": grain, "unique": True}, {"columns": ["front_conversation_id"]}],
        }
    project = {
        "name": DBT_PROJECT,
        "version": "1.0",
        "config-version": 2,
        "profile": DBT_PROFILE,
        "model-paths": ["models"],
        "models": {
            DBT_PROJECT: {
                "+materialized": "incremental",
                "+incremental_strategy": "{{ var('incremental_strategy') }}",
                **configs,
            }
        },
    }
    (folder / "dbt_project.yml").write_text(yaml.safe_dump(project, sort_keys=False), encoding="utf-8")
    (folder / "profiles.yml").write_text(yaml.safe_dump(_profiles(scratch), sort_keys=False), encoding="utf-8")


def _profiles(scratch: Scratch) -> dict[str, object]:
    with connect(scratch.url) as conn:
        info = conn.info
        output = {
            "type": "postgres",
            "host": info.host,
            "port": int(info.port),
            "user": info.user,
            "password": f"{{{{ env_var('{PASSWORD_VARIABLE}', '') }}}}",
            "dbname": info.dbname,
            "schema": scratch.source_schema,
            "threads": DBT_THREADS,
        }
        sslmode = info.get_parameters().get("sslmode")
    if sslmode:
        output["sslmode"] = sslmode
    return {DBT_PROFILE: {"target": "scratch", "outputs": {"scratch": output}}}


def run_dbt(dbt: Path, folder: Path, scratch: Scratch, strategy: str) -> DbtRun:
    """`dbt run` of the project in `folder` with `strategy` as the models' incremental strategy; raises
    DbtUnavailable, saying why in one line, when it fails."""
    with connect(scratch.url) as conn:
        password = conn.info.password or ""
    command = [
        str(dbt),
        "run",
        "--project-dir",
        str(folder),
        "--profiles-dir",
        str(folder),
        "--vars",
        json.dumps({"incremental_strategy": strategy}),
    ]
    env = {**os.environ, **DBT_ENVIRONMENT, PASSWORD_VARIABLE: password}
    (folder / "target" / "run_results.json").unlink(missing_ok=True)
    started = time.perf_counter()
    finished = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
    whole = time.perf_counter() - started
    results = _run_results(folder)
    failed = [row for row in results if row["status"] != "success"]
    if finished.returncode != 0 or failed or len(results) != len(FRONT_LINK_ASSETS):
        reason = str(failed[0].get("message")) if failed else _error_lines(finished.stdout + finished.stderr)
        raise DbtUnavailable(f"`dbt run` ({strategy}) failed (exit {finished.returncode}): {' '.join(reason.split())}")
    return DbtRun(models_seconds=sum(float(row["execution_time"]) for row in results), whole_seconds=whole)


def _run_results(folder: Path) -> list[dict[str, object]]:
    path = folder / "target" / "run_results.json"
    return json.loads(path.read_text(encoding="utf-8"))["results"] if path.exists() else []


def _error_lines(output: str) -> str:
    """dbt's first error and the line under it that says what ("Runtime Error" then "Could not find profile ..."),
    or its last line (which counts what failed)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [index for index, line in enumerate(lines) if "Error" in line]
    if errors:
        return " ".join(lines[errors[0] : errors[0] + 2])
    return lines[-1] if lines else "no output"


def drop_dbt_models(scratch: Scratch) -> None:
    with connect(scratch.url) as conn:
        for table in FRONT_LINK_ASSETS:
            conn.execute(scratch.benchmark_sql("bench/drop_dbt_model_table.sql", model=dbt_model(table)))
