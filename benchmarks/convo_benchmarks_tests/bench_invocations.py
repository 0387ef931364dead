"""`convo-pipelines bench` run as a process, in a shell without the project's variables, and the scratch
databases and schemas it must leave behind on a server."""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg

from convo_pipelines.lib.postgres.urls import psycopg_url
from convo_pipelines_tests.helpers import CLI, PROJECT_VARIABLES, environment_without


def scratch_leftovers(server_url: str) -> set[str]:
    """Scratch databases on the server and scratch schemas in its database, by name."""
    with psycopg.connect(psycopg_url(server_url), autocommit=True) as conn:
        databases = conn.execute("select datname from pg_database where datname like 'convo\\_bench\\_%'").fetchall()
        schemas = conn.execute("select nspname from pg_namespace where nspname like 'convo\\_bench\\_%'").fetchall()
    return {row[0] for row in databases + schemas}


# What a bench run must not inherit from the shell: the project's variables and a Dagster instance.
BENCH_UNSET = PROJECT_VARIABLES | {"DAGSTER_HOME", "DAGSTER_STORAGE_URL"}


# A guard against a hung bench, not a timing aim: a small bench of every part took over 20 minutes on a machine
# running CI's other slow tests beside it, every part measured, none hung.
BENCH_TIMEOUT_SECONDS = 2400


def run_bench(out: Path, args: list[str], **environment: str) -> subprocess.CompletedProcess[str]:
    """`convo-pipelines bench <args> --json out` without the project's variables, `environment` added; it must succeed."""
    environ = environment_without(BENCH_UNSET, **environment)
    finished = subprocess.run(
        [CLI, "bench", *args, "--json", str(out)],
        env=environ,
        capture_output=True,
        text=True,
        timeout=BENCH_TIMEOUT_SECONDS,
    )
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    return finished


def refused_bench_error(args: list[str], **environment: str) -> str:
    """The one-line error of `convo-pipelines bench <args>`, which must refuse them (exit 2), `environment` added to
    a shell without the project's variables."""
    environ = environment_without(BENCH_UNSET, **environment)
    finished = subprocess.run([CLI, "bench", *args], env=environ, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 2, finished.stdout[-3000:] + finished.stderr[-3000:]
    # The bench's own progress lines (the embedded server it started and stopped) go to stdout.
    assert len(finished.stderr.strip().splitlines()) == 1, finished.stderr
    return finished.stderr.strip()
