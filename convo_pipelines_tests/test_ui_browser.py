"""The README's backfill "from the UI", clicked in a real browser against the stack `make dev` starts.

Headless Chromium (Debian's, driven by Playwright) opens the Catalog, selects the two Front link
assets, opens "Materialize selected", types a partition range into the launch dialog, launches the
backfill and waits until the backfill's page says it succeeded. Then PostgreSQL must hold exactly
the links an independent oracle computes for that range, and Dagster must have run the range as ONE
run. Screenshots of every step are kept under CONVO_TEST_ARTIFACTS (default: the test's tmp_path), with the docs
site's three images (the asset graph, the backfill's page, a check's metadata); CONVO_UPDATE_SCREENSHOTS=1 also
copies those into docs/images/ once the test passed (ui_screenshots.py says why only then).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from convo_pipelines.lib.embedded.server import embedded_is_running, stop_embedded_postgres
from convo_pipelines.lib.postgres.urls import psycopg_url
from convo_pipelines_tests.cli.test_dev import DevProcess, clean_environment, running_dev
from convo_pipelines_tests.helpers import CLI
from convo_pipelines_tests.source_data import expected_client_links, expected_people_links
from convo_pipelines_tests.ui_screenshots import BACKFILL_STATUS, DocsScreenshots, publish

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
DEMO = ("--demo-conversations", "300", "--demo-messages", "0", "--demo-days", "5")
FRONT_LINK_ASSETS = ("people_front_conversations", "clients_front_conversations")
# Waits of the UI: the code location loads lazily, and a backfill is picked up by the daemon's next tick.
UI_TIMEOUT_MS = 60_000
BACKFILL_TIMEOUT = 240
VIEWPORT = {"width": 1600, "height": 1000}
# A run's page: /runs/<run id>, the id a UUID (a backfill's page is /runs/b/<backfill id>).
SHORT_RUN_ID = re.compile(r"^[0-9a-f]{8}$")
RUN_LINK = re.compile(r"^/runs/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")

BACKFILL_QUERY = """
query ($backfillId: String!) {
  partitionBackfillOrError(backfillId: $backfillId) {
    ... on PartitionBackfill { status numPartitions isAssetBackfill }
  }
  runsOrError(filter: {tags: [{key: "dagster/backfill", value: $backfillId}]}) {
    ... on Runs { results { runId status tags { key value } assetSelection { path } } }
  }
}
"""


@pytest.fixture
def artifacts(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """Folder for this test's screenshots: CONVO_TEST_ARTIFACTS/<test name>, else tmp_path/screenshots."""
    root = os.environ.get("CONVO_TEST_ARTIFACTS", "").strip()
    folder = Path(root) / request.node.name if root else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots of {request.node.name}: {folder}")
    return folder


@pytest.fixture
def convo_home() -> Iterator[Path]:
    """CONVO_HOME for the embedded server, outside pytest's basetemp (which other pytest sessions re-chmod:
    as root the server runs as the user `pgserver`, which must traverse the folders above pgdata)."""
    home = Path(tempfile.mkdtemp(prefix="convo-ui-home-"))
    try:
        yield home
    finally:
        # dev stops its PostgreSQL on SIGINT; a test that failed before that must not leave it running.
        if embedded_is_running(home):
            stop_embedded_postgres(home)
        shutil.rmtree(home, ignore_errors=True)


def exports_of_env_command(env: dict[str, str]) -> dict[str, str]:
    """What `convo-pipelines env` prints for this CONVO_HOME, as a dict."""
    printed = subprocess.run([CLI, "env"], env=env, capture_output=True, text=True, timeout=120)
    assert printed.returncode == 0, printed.stderr
    return dict(
        shlex.split(line)[1].split("=", 1) for line in printed.stdout.splitlines() if line.startswith("export ")
    )


def backfill_range(database_url: str) -> tuple[date, date]:
    """Three whole past days inside the demo (its first and last days are partial), read from its data:
    the demo is dated from the moment it is seeded, which may be a day later than the test's start."""
    with psycopg.connect(psycopg_url(database_url)) as conn:
        oldest, newest = conn.execute(
            "select min(created_at at time zone 'UTC')::date, max(created_at at time zone 'UTC')::date "
            "from public.front_conversations"
        ).fetchone()
    first, last = oldest + timedelta(days=1), oldest + timedelta(days=3)
    assert last < newest, f"the demo's conversations span {oldest}..{newest}: fewer than three whole days"
    return first, last


def utc_midnight(day: date) -> datetime:
    return datetime.combine(day, clock.min, UTC)


def stored_links(conn: psycopg.Connection, table: str, owner: str, start: datetime, end: datetime) -> set[tuple]:
    """(owner id, conversation id) pairs of a Front link table for conversations created in [start, end)."""
    query = sql.SQL(
        "select {}, front_conversation_id from {} "
        "where front_conversation_created_at >= %s and front_conversation_created_at < %s"
    ).format(sql.Identifier(owner), sql.Identifier("public", table))
    rows = conn.execute(query, (start, end)).fetchall()
    assert len(rows) == len(set(rows)), f"{table} holds duplicate pairs"
    return set(rows)


def graphql(dev: DevProcess, query: str, variables: dict) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{dev.port}/graphql",
        data=json.dumps({"query": query, "variables": variables}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.load(response)
    assert not body.get("errors"), body["errors"]
    return body["data"]


def mark_community_dialog_seen(dev: DevProcess) -> None:
    """Tell the instance its newsletter dialog was seen, as the UI's Skip button does. A fresh instance
    opens that dialog a second after the first page loads, over whatever is open then: a handler that
    clicked Skip lost that race to the launch dialog, whose overlay caught the Skip button's clicks."""
    graphql(dev, "mutation SetNuxSeen { setNuxSeen }", {})
    assert graphql(dev, "query ShouldShowNux { shouldShowNux }", {}) == {"shouldShowNux": False}


class Browser:
    """A headless Chromium page on the Dagster UI that numbers and keeps its screenshots."""

    def __init__(self, page, base_url: str, folder: Path) -> None:
        self.page, self.base_url, self.folder = page, base_url, folder
        self.shots: list[Path] = []

    def shot(self, name: str) -> None:
        path = self.folder / f"{len(self.shots) + 1:02d}_{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.shots.append(path)

    def open_catalog(self) -> None:
        page = self.page
        page.goto(f"{self.base_url}/assets")
        for asset in FRONT_LINK_ASSETS:
            page.get_by_test_id(f"checkbox-{asset}").wait_for(state="attached")
        self.shot("catalog")

    def select_front_link_assets(self) -> None:
        for asset in FRONT_LINK_ASSETS:
            # The input is drawn by its label (the input itself is visually hidden).
            self.page.locator(f"label:has([data-testid='checkbox-{asset}'])").click()
            assert self.page.get_by_test_id(f"checkbox-{asset}").is_checked()
        self.shot("two_assets_selected")

    def launch_backfill(self, first: date, last: date) -> str:
        """Materialize selected -> partition range in the launch dialog -> Launch backfill; returns the backfill id."""
        page = self.page
        page.get_by_role("button", name="Materialize selected").click()
        dialog = page.get_by_role("dialog").filter(has_text="Launch runs to materialize 2 assets")
        dialog.wait_for()
        ranges = dialog.get_by_placeholder("No matching partitions")
        ranges.fill(f"[{first.isoformat()}...{last.isoformat()}]")
        ranges.press("Enter")
        days = (last - first).days + 1
        dialog.get_by_text(f"{days} partitions", exact=True).wait_for()
        self.shot("launch_dialog_with_range")

        # The dialog's preview states each asset's backfill policy: both must be one run for the whole range.
        dialog.get_by_text("Preview", exact=True).click()
        preview = page.get_by_role("dialog").filter(has_text="Backfill preview")
        preview.wait_for()
        for asset in FRONT_LINK_ASSETS:
            # The preview is a grid of divs, not a <table>: a row is the one holding the asset's link.
            row = preview.locator("div[class*='VirtualizedTable_row']").filter(
                has=page.locator(f"a[href='/assets/{asset}']")
            )
            assert "Backfills all partitions in a single run" in row.inner_text()
            assert f"{first.isoformat()}...{last.isoformat()}" in row.inner_text()
        self.shot("backfill_preview")
        preview.get_by_role("button", name="OK").click()

        dialog.get_by_role("button", name="Launch backfill").click()
        page.get_by_text("Created backfill").wait_for()
        page.wait_for_timeout(500)  # the toast fades in: a readable screenshot
        self.shot("backfill_created")
        link = page.locator("a[href^='/runs/b/']", has_text="View")
        href = link.get_attribute("href")
        assert href and href.startswith("/runs/b/"), href
        link.click()
        return href.removeprefix("/runs/b/")

    def wait_for_backfill_status(self, backfill_id: str) -> str:
        """The status the backfill's page shows once it succeeded, failed or was canceled, or after
        BACKFILL_TIMEOUT (the page is reloaded while the backfill runs)."""
        page = self.page
        page.wait_for_url(f"**/runs/b/{backfill_id}**")
        status = page.locator(BACKFILL_STATUS).first
        deadline = time.monotonic() + BACKFILL_TIMEOUT
        while True:
            text = status.inner_text().strip()
            over = text == "Succeeded" or any(word in text.lower() for word in ("fail", "cancel"))
            if over or time.monotonic() > deadline:
                self.shot("backfill_page")
                return text
            page.wait_for_timeout(2_000)
            page.reload()

    def open_backfill_runs(self) -> list[str]:
        """The run ids the backfill page's Runs tab lists."""
        page = self.page
        page.get_by_role("tab", name="Runs").click()
        links = page.locator("a[href^='/runs/']")
        page.get_by_role("tab", name="Runs", selected=True).wait_for()
        links.filter(has_text=SHORT_RUN_ID).first.wait_for()  # the table lists a run by its id's first 8 characters
        self.shot("backfill_runs")
        hrefs = (link.get_attribute("href") or "" for link in links.all())
        return sorted({match.group(1) for href in hrefs if (match := RUN_LINK.match(href))})


def take_docs_screenshots(chromium, base_url: str, folder: Path, backfill_id: str) -> list[Path]:
    """The docs' images, once the backfill succeeded: the graph it filled, its page, and the latest result of the
    exactness check that every run of people_front_conversations executes after the asset."""
    docs = DocsScreenshots(chromium, base_url, folder, UI_TIMEOUT_MS)
    docs.asset_graph()
    docs.backfill(backfill_id, FRONT_LINK_ASSETS)
    docs.check_metadata("people_front_conversations", "matches_source")
    return docs.taken


def test_a_backfill_launched_from_the_ui_fills_the_range_exactly_in_one_run(
    convo_home: Path, tmp_path: Path, artifacts: Path
) -> None:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).is_file(), f"{CHROMIUM} is missing: .ci/run installs Debian's chromium"
    env = clean_environment(CONVO_HOME=str(convo_home))
    with running_dev(tmp_path, env, *DEMO) as dev:
        dev.wait_until_serving()
        database_url = exports_of_env_command(env)["DATABASE_URL"]
        first, last = backfill_range(database_url)
        start, end = utc_midnight(first), utc_midnight(last + timedelta(days=1))
        # dev fills the demo once: the range's links are then removed, so only the UI's run can put them back.
        dev.wait_for_output("the demo's first fill ended")
        with psycopg.connect(psycopg_url(database_url), autocommit=True) as conn:
            for table, owner in (
                ("clients_front_conversations", "client_id"),
                ("people_front_conversations", "person_id"),
            ):
                conn.execute(
                    sql.SQL(
                        "delete from public.{} where front_conversation_created_at >= %s and front_conversation_created_at < %s"
                    ).format(sql.Identifier(table)),
                    (start, end),
                )
                assert stored_links(conn, table, owner, start, end) == set()
        assert set(FRONT_LINK_ASSETS) <= dev.graphql_asset_keys(set(FRONT_LINK_ASSETS))
        mark_community_dialog_seen(dev)
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
            try:
                page = chromium.new_page(viewport=VIEWPORT)
                page.set_default_timeout(UI_TIMEOUT_MS)
                browser = Browser(page, f"http://127.0.0.1:{dev.port}", artifacts)
                docs_images: list[Path] = []
                try:
                    browser.open_catalog()
                    browser.select_front_link_assets()
                    backfill_id = browser.launch_backfill(first, last)
                    shown_status = browser.wait_for_backfill_status(backfill_id)
                    shown_runs = browser.open_backfill_runs()
                    if shown_status == "Succeeded":  # else the asserts below say why; its images would mislead
                        docs_images = take_docs_screenshots(chromium, browser.base_url, artifacts, backfill_id)
                except Exception:
                    browser.shot("failure")
                    raise
                finally:
                    print("\n".join(str(path) for path in browser.shots))
            finally:
                chromium.close()

        assert shown_status == "Succeeded", f"the backfill page shows {shown_status!r}:\n{dev.output()[-4000:]}"
        recorded = graphql(dev, BACKFILL_QUERY, {"backfillId": backfill_id})
        backfill = recorded["partitionBackfillOrError"]
        assert (backfill["status"], backfill["numPartitions"], backfill["isAssetBackfill"]) == (
            "COMPLETED_SUCCESS",
            3,
            True,
        )
        [run] = recorded["runsOrError"]["results"]  # ONE run for the whole range and both assets
        tags = {tag["key"]: tag["value"] for tag in run["tags"]}
        assert run["status"] == "SUCCESS"
        assert (tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"]) == (
            first.isoformat(),
            last.isoformat(),
        )
        assert sorted(key["path"][0] for key in run["assetSelection"]) == sorted(FRONT_LINK_ASSETS)
        assert shown_runs == [run["runId"]]

        with psycopg.connect(psycopg_url(database_url)) as conn:
            expected_people = expected_people_links(conn, "public", start, end)
            expected_clients = expected_client_links(conn, "public", start, end)
            assert len(expected_people) > 100 and len(expected_clients) > 20
            assert stored_links(conn, "people_front_conversations", "person_id", start, end) == expected_people
            assert stored_links(conn, "clients_front_conversations", "client_id", start, end) == expected_clients
        dev.stop_with_sigint()
    assert not embedded_is_running(convo_home)
    for image in publish(docs_images):
        print(f"updated {image}")
