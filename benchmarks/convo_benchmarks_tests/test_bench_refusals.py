"""What `convo-pipelines bench` and `bench-report` refuse, in one line and before creating anything: a
server without wal_level = logical, a server setting on a DATABASE_URL or misspelt, a file that is
not a bench run."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from convo_benchmarks_tests.bench_invocations import refused_bench_error, scratch_leftovers
from convo_pipelines.lib.embedded.server import embedded_is_running, embedded_pgdata
from convo_pipelines_tests.helpers import CLI
from convo_pipelines_tests.postgres_clusters import running_cluster


def test_bench_refuses_a_database_url_without_logical_wal_level_before_creating_anything() -> None:
    # A server of its own: the suite's may run with wal_level = logical (a TEST_DATABASE_URL's, say).
    with running_cluster("bench_replica", wal_level="replica") as cluster:
        server_url = cluster.url()
        before = scratch_leftovers(server_url)
        error = refused_bench_error(["--conversations", "300"], DATABASE_URL=server_url)
        assert "wal_level = logical" in error and "--skip-replication" in error
        assert scratch_leftovers(server_url) == before


def test_bench_refuses_to_set_a_server_setting_on_a_database_url_before_creating_anything(server_url: str) -> None:
    before = scratch_leftovers(server_url)
    error = refused_bench_error(
        ["--conversations", "300", "--skip-replication", "--server-setting", "shared_buffers=1GB"],
        DATABASE_URL=server_url,
    )
    assert "--server-setting" in error and "DATABASE_URL" in error
    assert scratch_leftovers(server_url) == before


def test_bench_names_a_misspelt_server_setting_and_leaves_the_embedded_server_as_it_was(convo_home: Path) -> None:
    error = refused_bench_error(
        ["--conversations", "300", "--skip-replication", "--server-setting", "shared_bufers=1GB"],
        CONVO_HOME=str(convo_home),
    )
    assert "PostgreSQL has no setting named shared_bufers" in error
    assert not embedded_is_running(convo_home)
    assert "shared_bufers" not in (embedded_pgdata(convo_home) / "postgresql.auto.conf").read_text()


def test_bench_report_names_a_file_that_is_not_a_bench_run(tmp_path: Path) -> None:
    page = tmp_path / "performance.md"
    page.write_text("# Kept\n")
    run = tmp_path / "run.json"
    run.write_text(json.dumps({"conversations": 1, "measurements": {}}))
    rendered = subprocess.run([CLI, "bench-report", str(run), "--page", str(page)], capture_output=True, text=True)
    assert rendered.returncode == 2
    assert str(run) in rendered.stderr and "not what `bench --json` writes" in rendered.stderr
    assert page.read_text() == "# Kept\n"
