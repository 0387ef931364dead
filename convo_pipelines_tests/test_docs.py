"""The README is a front page, the docs site builds with every link and anchor resolved, and every command block
a reader copies is run somewhere (the performance page is the benchmarks' to test: it is what their results
generate)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from convo_pipelines_tests.docs_pages import (
    PAGES_RUN_AS_WRITTEN,
    README,
    ROOT,
    commands_run_as_written,
    fenced_blocks,
)

MKDOCS = str(Path(sys.executable).parent / "mkdocs")
README_MOST_LINES = 250
# The one command block the first-ten-minutes test cannot run, since it is the suite itself.
RUN_BY_CI = "make test"


def test_the_readme_is_a_front_page() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MOST_LINES, f"README.md has {len(lines)} lines: move detail to docs/"


def test_every_relative_link_of_the_readme_names_a_file_of_the_repository() -> None:
    targets = re.findall(r"\]\((?!https?://|#)([^)#\s]+)", README.read_text(encoding="utf-8"))
    assert targets, "the README links to no page of the docs"
    missing = [target for target in targets if not (ROOT / target).exists()]
    assert not missing, missing


def test_the_docs_site_builds_with_every_link_and_anchor_resolved(tmp_path: Path) -> None:
    # mkdocs.yml turns unresolved links, anchors and pages left out of the navigation into warnings, and
    # --strict turns a warning into a failed build.
    environ = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    built = subprocess.run(
        [MKDOCS, "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    assert (tmp_path / "site" / "getting-started" / "index.html").exists()


def test_the_one_command_block_the_pages_test_leaves_out_is_what_ci_runs() -> None:
    blocks = [block.text for block in commands_run_as_written()]
    assert RUN_BY_CI in blocks
    ci_commands = [line.strip() for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()]
    assert RUN_BY_CI in ci_commands, ".ci/run no longer runs the README's test command as written"


def test_every_fenced_block_of_the_pages_says_its_language() -> None:
    # An untagged block would be neither run as a command nor shown as output: say which it is.
    blocks = [block for page in PAGES_RUN_AS_WRITTEN for block in fenced_blocks(page)]
    assert {block.page for block in blocks} == set(PAGES_RUN_AS_WRITTEN)
    untagged = [(block.page.name, block.text[:60]) for block in blocks if not block.language]
    assert not untagged, untagged


def test_the_zero_page_shows_the_schema_and_queries_the_zero_client_runs() -> None:
    # docs/reading-through-zero.md quotes convo_pipelines_tests/zero/schema.ts and client.ts: each TypeScript block
    # must be there as written, so the page cannot drift from what test_reading_through_zero.py runs.
    page = ROOT / "docs" / "reading-through-zero.md"
    sources = "".join(
        (ROOT / "convo_pipelines_tests" / "zero" / name).read_text(encoding="utf-8")
        for name in ("schema.ts", "client.ts")
    )
    blocks = [block.text for block in fenced_blocks(page) if block.language == "ts"]
    assert blocks, "the Zero page quotes no TypeScript"
    missing = [block[:80] for block in blocks if block.strip() not in sources]
    assert not missing, missing
