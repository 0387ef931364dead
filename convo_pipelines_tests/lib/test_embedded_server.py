"""Whether the embedded server is up is read from its postmaster.pid without psutil: an ended process
that nobody reaped (a zombie, as a crashed postmaster can be) counts as gone."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from convo_pipelines.lib.embedded.server import embedded_is_running, process_is_live


def test_a_process_is_live_until_it_ends_reaped_or_not() -> None:
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert process_is_live(child.pid)
    finally:
        child.kill()
    deadline = time.monotonic() + 10
    while process_is_live(child.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process_is_live(child.pid)  # ended, not yet reaped: a zombie
    assert child.poll() is not None
    assert not process_is_live(child.pid)  # reaped


def test_embedded_is_running_reads_the_postmaster_pid(tmp_path: Path) -> None:
    assert not embedded_is_running(tmp_path)  # no data folder
    pgdata = tmp_path / "pgdata"
    pgdata.mkdir()
    (pgdata / "postmaster.pid").write_text("not a pid\n")
    assert not embedded_is_running(tmp_path)
    child = subprocess.Popen(["sleep", "30"])
    try:
        (pgdata / "postmaster.pid").write_text(f"{child.pid}\n{pgdata}\n")
        assert embedded_is_running(tmp_path)
    finally:
        child.kill()
        child.wait()
    assert not embedded_is_running(tmp_path)  # a file left by a crash names a process that is gone
