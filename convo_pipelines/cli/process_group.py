"""Running a command in a process group of its own until it exits or a signal stops it, and ending what is left
of the group afterwards (code servers, run workers)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

# dagster dev itself waits up to 60 s for its webserver and daemon; give it that, then kill.
SHUTDOWN_GRACE_SECONDS = 75
LEFTOVER_GRACE_SECONDS = 10
COMPANION_JOIN_SECONDS = 5.0

Say = Callable[[str], None]


def run_until_stopped(
    command: list[str],
    env: Mapping[str, str],
    cwd: Path,
    say: Say,
    companion: Callable[[threading.Event], None] | None = None,
) -> int:
    """Run `command` in its own process group; SIGINT/SIGTERM ask it to stop, a second one kills the group.

    Whatever is left of the group afterwards (code servers, run workers) is terminated too.
    `companion` runs in a thread beside it and is told to stop (its event is set) when the command
    ends or is asked to. Returns 0 when stopped on request, else the command's exit code.
    """
    child = subprocess.Popen(command, env=dict(env), cwd=cwd, start_new_session=True, preexec_fn=_default_signals)
    requested: list[float] = []
    stopped = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        requested.append(time.monotonic())
        stopped.set()
        if len(requested) == 1:
            say(f"stopping Dagster ({signal.Signals(signum).name})...")
            _send(child.pid, signal.SIGINT)
        else:
            _send_group(child.pid, signal.SIGKILL)

    previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
    helper = (
        threading.Thread(target=companion, args=(stopped,), name="dev-companion", daemon=True) if companion else None
    )
    if helper:
        helper.start()
    try:
        returncode = _wait_for_exit(child, requested)
    finally:
        stopped.set()
        stop_process_group(child.pid)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if helper:
            helper.join(timeout=COMPANION_JOIN_SECONDS)
    return 0 if requested else returncode


def _wait_for_exit(child: subprocess.Popen, requested: list[float]) -> int:
    while True:
        try:
            return child.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            if requested and time.monotonic() - requested[0] > SHUTDOWN_GRACE_SECONDS:
                _send_group(child.pid, signal.SIGKILL)


def stop_process_group(pgid: int) -> None:
    """Terminate what is left of the process group, then kill it after a grace period."""
    if not _group_alive(pgid):
        return
    _send_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + LEFTOVER_GRACE_SECONDS
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.2)
    _send_group(pgid, signal.SIGKILL)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _send(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _send_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        pass


def _default_signals() -> None:
    # A process started in the background by a shell inherits SIGINT as ignored, and exec keeps
    # that: reset so dagster dev (and its children) can be stopped.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
