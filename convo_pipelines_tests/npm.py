"""Installing a test folder's npm packages (a committed package.json and package-lock.json) with `npm ci`: the Zero
client and zero-cache, n8n's chat memory writers."""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
from pathlib import Path


def ensure_npm_installed(folder: Path, package: str) -> None:
    """`npm ci` in `folder` (a test folder with a committed package.json and package-lock.json) unless its node_modules
    already holds the locked version of `package`; under a file lock, so two pytest workers never install into one
    folder at once."""
    # The lock is taken on the committed package-lock.json, which flock leaves as it is.
    with (folder / "package-lock.json").open() as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        locked = json.loads((folder / "package-lock.json").read_text())["packages"][f"node_modules/{package}"][
            "version"
        ]
        manifest = folder / "node_modules" / package / "package.json"
        if manifest.exists() and json.loads(manifest.read_text())["version"] == locked:
            return
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError(
                f"npm is not on PATH: the tests install {package} with `npm ci` in {folder} (Debian: `apt-get install npm`)"
            )
        installed = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=folder, capture_output=True, text=True, timeout=900
        )
        if installed.returncode != 0:
            raise RuntimeError(f"`npm ci` in {folder} failed:\n{installed.stdout[-2000:]}\n{installed.stderr[-3000:]}")
