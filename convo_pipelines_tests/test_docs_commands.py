"""The first ten minutes as a reader lives them: every command block of the README and of
docs/getting-started.md run exactly as written, in the order the pages give them, from the repository's
root, beside the `make dev` they start. `make test` is left out: it is this suite, and CI runs it as written."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from convo_pipelines_tests.docs_pages import ROOT, Block, commands_run_as_written
from convo_pipelines_tests.helpers import PROJECT_VARIABLES, environment_without
from convo_pipelines_tests.ports import free_port
from convo_pipelines_tests.test_docs import RUN_BY_CI

START = "make dev"
# The demo's first fill: seeding, the webserver's start and the daemon's backfill ticks.
FIRST_FILL_TIMEOUT = 420
SHUTDOWN_TIMEOUT = 120
COMMAND_TIMEOUT = 120


def wait_for_line(log: Path, text: str, process: subprocess.Popen, timeout: float) -> str:
    """The first line of `log` holding `text`, waiting while `process` runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if text in line:
                return line
        assert process.poll() is None, f"`{START}` exited with {process.returncode}:\n{log.read_text()[-4000:]}"
        time.sleep(2)
    pytest.fail(f"`{START}` did not print {text!r} within {timeout:.0f} s:\n{log.read_text()[-4000:]}")


def run_block(block: Block, environ: dict[str, str]) -> subprocess.CompletedProcess:
    finished = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block.text],
        cwd=ROOT,
        env=environ,
        input=block.stdin,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
    )
    assert finished.returncode == 0, (
        f"{block.page.name}: {block.text!r} exited {finished.returncode}:\n{finished.stderr[-3000:]}"
    )
    return finished


def interrupt_like_ctrl_c(process: subprocess.Popen) -> None:
    """SIGINT to the foreground process group, as a terminal's Ctrl-C, and every process of it gone."""
    group = os.getpgid(process.pid)
    tree = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
    os.killpg(group, signal.SIGINT)
    process.wait(timeout=SHUTDOWN_TIMEOUT)
    _, alive = psutil.wait_procs(tree, timeout=SHUTDOWN_TIMEOUT)
    assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE], alive


@pytest.mark.slow
def test_every_command_block_of_the_first_ten_minutes_runs_as_written(tmp_path: Path) -> None:
    blocks = [block for block in commands_run_as_written() if block.text != RUN_BY_CI]
    assert blocks[0].text == START, "the pages no longer start with `make dev`"
    # The reader's own shell: none of the project's variables; the demo's data in a folder of the test's
    # (CONVO_HOME) and its UI on a free port, so a developer's own `make dev` is neither reused nor disturbed.
    environ = environment_without(
        PROJECT_VARIABLES | {"DAGSTER_HOME", "DAGSTER_STORAGE_URL", "TEST_DATABASE_URL"},
        CONVO_HOME=str(tmp_path / "convo"),
        DAGSTER_WEBSERVER_PORT=str(free_port()),
    )
    log = tmp_path / "make-dev.log"
    with log.open("w") as out:
        dev = subprocess.Popen(
            ["bash", "-c", START], cwd=ROOT, env=environ, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        ended = wait_for_line(log, "the demo's first fill ended", dev, FIRST_FILL_TIMEOUT)
        assert "COMPLETED_SUCCESS" in ended and "no check fails" in ended, ended
        outputs = {block.text: run_block(block, environ) for block in blocks[1:]}
    finally:
        if dev.poll() is None:
            interrupt_like_ctrl_c(dev)
    assert dev.returncode is not None
    status = next(finished for text, finished in outputs.items() if "convo-pipelines status" in text)
    assert "people_front_conversations" in status.stdout + status.stderr
    query = next(finished for text, finished in outputs.items() if text.endswith('psql "$DATABASE_URL"'))
    assert "(5 rows)" in query.stdout, query.stdout
