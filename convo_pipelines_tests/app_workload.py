"""A real application workload beside the pipeline's runs, and a lock monitor: what the app waits for while runs go.

The pipelines run inside the application's own PostgreSQL while it serves users. `AppWorkload`
plays the application on its own connections (application_name `convo_app_workload`):
- a reader issues, every `interval` seconds, the reads an app issues: a person's and a client's
  newest conversations and a conversation's people through the Front link tables, a project's
  conversations through project_conversations, one conversation and one person by id;
- a person writer, every `interval` seconds, re-creates one person in a short transaction (a new
  person of the same client takes over the old one's contact methods, then the old one is deleted,
  which cascades to its links where the foreign keys exist), so there are always people to delete;
- a recipient writer, every `interval` seconds, adds one recipient (a contact method with a person)
  to one message.
Every statement is timed on the client (wall time, round trip included); a failure is counted by
SQLSTATE and never raised. A lock monitor on its own connection polls pg_locks and
pg_stat_activity every few milliseconds and records the lock modes the pipeline's backends
(application_name `convo_pipelines`) hold or await on the source tables (and, apart, on the link tables), and how long app
statements waited for a lock that a pipeline backend held or queued for (directly, or through
another waiter).

Tooling for the tests and `convo-pipelines bench`: the assets never import it. The threads are
app_workload_threads.py's, what they record app_workload_recording.py's, and the report app_workload_report.py's.
"""

from __future__ import annotations

import multiprocessing
import time
from multiprocessing.connection import Connection

from convo_pipelines_tests.app_workload_report import WorkloadReport
from convo_pipelines_tests.app_workload_threads import STOP_GRACE_SECONDS, WorkloadThreads

# How long the workload's process may take to connect and draw its samples.
STARTUP_SECONDS = 60.0


class AppWorkload:
    """Context manager: `WorkloadThreads` in a child process, so the caller's work (a Dagster run in
    process, say) never delays the app's statements or the lock monitor's polls for the interpreter.

    with AppWorkload(url, "public", interval=0.05) as app:
        ... launch pipeline runs ...
    report = app.report()
    """

    def __init__(self, url: str, source_schema: str, **options: object) -> None:
        self.options = {"url": url, "source_schema": source_schema, **options}
        self._process: multiprocessing.process.BaseProcess | None = None
        self._pipe: Connection | None = None
        self._report: WorkloadReport | None = None

    def __enter__(self) -> AppWorkload:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start the child process; return once its workers and monitor are connected and running."""
        context = multiprocessing.get_context("spawn")
        self._pipe, child_end = context.Pipe()
        self._process = context.Process(
            target=_serve_workload, args=(child_end, self.options), name="app_workload", daemon=True
        )
        self._process.start()
        child_end.close()
        message, detail = self._receive(STARTUP_SECONDS, "start")
        if message != "started":
            self._process.join(timeout=10)
            raise RuntimeError(f"the app workload could not start: {detail}")

    def stop(self) -> None:
        """Stop the workers after their current statements and collect the report."""
        if self._process is None or self._report is not None:
            return
        self._pipe.send("stop")
        message, detail = self._receive(STOP_GRACE_SECONDS + 30, "stop")
        self._process.join(timeout=30)
        if message != "report":
            raise RuntimeError(f"the app workload ended without its report: {detail}")
        self._report = detail

    def report(self) -> WorkloadReport:
        """What the workload measured (after stop(), or the end of the with block)."""
        if self._report is None:
            raise RuntimeError("the app workload reports once it is stopped")
        return self._report

    def _receive(self, seconds: float, step: str) -> tuple[str, object]:
        if not self._pipe.poll(seconds):
            self._process.kill()
            raise RuntimeError(f"the app workload did not {step} within {seconds:.0f} s")
        try:
            return self._pipe.recv()
        except EOFError:
            return "ended", f"the workload process exited with code {self._process.exitcode}"


def _serve_workload(pipe: Connection, options: dict[str, object]) -> None:
    """The child process: start the threads, say so, run until told to stop (or the parent goes), send the report."""
    workload = WorkloadThreads(**options)
    try:
        workload.start()
    except Exception as exc:
        pipe.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    pipe.send(("started", None))
    try:
        pipe.recv()
    except EOFError:
        pass  # the parent is gone: stop anyway
    workload.stop()
    try:
        pipe.send(("report", workload.report()))
    except (BrokenPipeError, OSError):
        pass


def measure_baseline(
    url: str, source_schema: str, seconds: float, *, interval: float = 0.05, **options: object
) -> WorkloadReport:
    """The same workload for `seconds` with no run going: what the app's statements cost on their own."""
    with AppWorkload(url, source_schema, interval=interval, **options) as workload:
        time.sleep(seconds)
    return workload.report()
