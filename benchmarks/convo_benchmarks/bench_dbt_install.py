"""dbt for the bench's dbt contender, in a virtualenv of its own (never the product's: dbt's dependencies would
otherwise have to agree with Dagster's), made with `python -m venv` and pip on first use and kept for the next."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

# dbt-core is pinned below 1.12 on purpose: 1.12's parser wheel is downloaded from GitHub while pip builds it, which
# fails on a machine that reaches only a package index.
DBT_REQUIREMENTS = ("dbt-core==1.11.16", "dbt-postgres==1.11.0")
INSTALL_TIMEOUT_SECONDS = 900
# A failed install's reason is one line of pip's output, cut to this length (pip lists every version it found).
SHOWN_REASON_CHARACTERS = 300


class DbtUnavailable(Exception):
    """dbt could not be installed or run here; the message says why in one line."""


def dbt_venv() -> Path:
    """Where dbt's virtualenv lives: the user's cache (XDG_CACHE_HOME, else ~/.cache), shared by every checkout."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "convo_pipelines" / "dbt-venv"


def ensure_dbt(venv: Path | None = None) -> Path:
    """The `dbt` executable of `venv` (dbt_venv() by default) with DBT_REQUIREMENTS installed, installing them first
    when the venv lacks them; under a file lock, so two benches or pytest workers never install into one venv."""
    venv = venv or dbt_venv()
    venv.parent.mkdir(parents=True, exist_ok=True)
    wanted = "\n".join(DBT_REQUIREMENTS) + "\n"
    installed = venv / "convo-requirements.txt"
    dbt = venv / "bin" / "dbt"
    with (venv.parent / f"{venv.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if dbt.exists() and installed.exists() and installed.read_text() == wanted:
            return dbt
        shutil.rmtree(venv, ignore_errors=True)
        _install_step([sys.executable, "-m", "venv", str(venv)], "python -m venv")
        _install_step(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", *DBT_REQUIREMENTS],
            f"pip install {' '.join(DBT_REQUIREMENTS)}",
        )
        installed.write_text(wanted)
        return dbt


def _install_step(command: list[str], what: str) -> None:
    try:
        finished = subprocess.run(command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_SECONDS)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DbtUnavailable(f"{what} failed: {exc}") from None
    if finished.returncode != 0:
        raise DbtUnavailable(
            f"{what} failed (exit {finished.returncode}): {_reason(finished.stderr + finished.stdout)}"
        )


def _reason(output: str) -> str:
    """pip's last error line ("ERROR: No matching distribution ...", a build's "RuntimeError: failed to download
    ..."), or its last line, cut to SHOWN_REASON_CHARACTERS."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR:") or "Error:" in line] or lines[-1:]
    reason = errors[-1] if errors else "no output"
    return reason if len(reason) <= SHOWN_REASON_CHARACTERS else reason[: SHOWN_REASON_CHARACTERS - 3] + "..."
