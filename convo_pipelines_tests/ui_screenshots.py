"""The docs site's screenshots (docs/images/), taken by test_ui_browser.py on the `dagster dev` it drives.

Every run of that test takes them into its artifacts folder and asserts what each page showed and what each file
holds; only CONVO_UPDATE_SCREENSHOTS=1 copies them into docs/images/, and only once the whole test passed. Why a
flag rather than a folder to write into: a plain run (CI, `make test-slow`) still exercises every screenshot and fails
with it, yet never dirties the git tree, so the committed images change only when someone asks for it, and never from
a run whose backfill or data went wrong.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

DOCS_IMAGES = Path(__file__).resolve().parents[1] / "docs" / "images"
UPDATE_FLAG = "CONVO_UPDATE_SCREENSHOTS"
# A laptop's window: what a reader's own UI looks like, wide enough for the graph's two open groups side by side.
VIEWPORT = {"width": 1440, "height": 900}
# A rendered UI page is tens of KB as a PNG (a blank page a few KB); the cap keeps the repository light.
MIN_BYTES, MAX_BYTES = 30_000, 400_000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# What a node or panel shows until its data arrives.
LOADING = re.compile(r"^\s*Loading\W*$")
# What an asset node shows while a run materializes it (with its checks "0 / N Passed"): dev's sensors and schedules
# launch link runs of their own after the backfill, which take seconds, longer on a loaded machine.
MATERIALIZING = re.compile(r"^\s*Materializing")
QUIET_TIMEOUT_MS = 180_000
# The status a backfill's page shows in its header (Browser.wait_for_backfill_status reads it too).
BACKFILL_STATUS = "div:has(> div:text-is('Status')) span[data-tooltip]"

GRAPH_GROUPS = ("source", "links", "histories")
# The groups drawn open, with their assets and edges. `source` stays one box: its ten tables in a row would shrink
# the graph past reading.
OPEN_GROUPS = {
    "links": ("people_front_conversations", "clients_front_conversations", "project_conversations"),
    "histories": ("histories_sessions", "conversation_summaries", "daily_conversation_stats"),
}
# What the matches_source check records (convo_pipelines/defs/checks.py: result_from_problems).
CHECK_METADATA = ("missing_count", "extra_count", "violations")


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from the PNG's header, after asserting it is a PNG."""
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE), f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def assert_sensible_png(path: Path) -> None:
    """A PNG of the whole viewport, heavy enough to hold a rendered page, light enough to commit."""
    assert path.is_file(), f"{path} was not written"
    assert png_size(path) == (VIEWPORT["width"], VIEWPORT["height"]), path
    size = path.stat().st_size
    assert MIN_BYTES <= size <= MAX_BYTES, f"{path}: {size:,} bytes, expected {MIN_BYTES:,}..{MAX_BYTES:,}"


def wait_until_shown(scope, texts: Iterable[str]) -> None:
    """Wait for each text inside the locator `scope`, then assert they are all there at once."""
    texts = tuple(texts)
    for text in texts:
        scope.get_by_text(text).first.wait_for()
    shown = scope.inner_text()
    missing = [text for text in texts if text not in shown]
    assert not missing, f"the page does not show {missing}"


def wait_until_still(page, locator, interval_ms: int = 250) -> None:
    """Wait until `locator`'s style stops changing: the graph's zoom is animated after a fit."""
    previous = None
    for _ in range(40):
        current = locator.get_attribute("style")
        if current == previous:
            return
        previous = current
        page.wait_for_timeout(interval_ms)
    raise AssertionError(f"the graph kept moving: {current}")


def settle(page) -> None:
    """No hover state, focus ring or loading spinner in the image: the pointer rests on the blank top bar."""
    page.mouse.move(VIEWPORT["width"] // 2, 1)
    page.evaluate("document.activeElement instanceof HTMLElement && document.activeElement.blur()")
    page.get_by_text(LOADING).first.wait_for(state="hidden")
    page.wait_for_timeout(400)  # hover styles fade out in 200 ms


def publish(shots: Iterable[Path]) -> list[Path]:
    """Copy the screenshots into docs/images/ when CONVO_UPDATE_SCREENSHOTS=1 (see the module's docstring)."""
    if os.environ.get(UPDATE_FLAG, "").strip() != "1":
        return []
    DOCS_IMAGES.mkdir(exist_ok=True)
    return [Path(shutil.copyfile(shot, DOCS_IMAGES / shot.name)) for shot in shots]


class DocsScreenshots:
    """Takes the docs' images, each with a fresh page: the UI keeps state such as the collapsed navigation or the
    graph's open groups in the page's localStorage, which must not leak from one image into the next."""

    def __init__(self, chromium, base_url: str, folder: Path, timeout_ms: int) -> None:
        self.chromium, self.base_url, self.folder, self.timeout_ms = chromium, base_url, folder, timeout_ms
        self.taken: list[Path] = []

    @contextmanager
    def _page(self, name: str) -> Iterator:
        """A fresh page; when taking `name` fails, what the page showed is kept as failed-<name> for the artifacts."""
        page = self.chromium.new_page(viewport=VIEWPORT)
        page.set_default_timeout(self.timeout_ms)
        try:
            yield page
        except Exception:
            page.screenshot(path=str(self.folder / f"failed-{name}"))
            raise
        finally:
            page.context.close()

    def _shoot(self, page, name: str) -> Path:
        settle(page)
        path = self.folder / name
        page.screenshot(path=str(path), full_page=False, animations="disabled", caret="hide")
        assert_sensible_png(path)
        self.taken.append(path)
        return path

    def asset_graph(self) -> Path:
        """Lineage: the source group feeding the open links and histories groups, fitted to the window."""
        with self._page("asset-graph.png") as page:
            page.goto(f"{self.base_url}/asset-groups")
            graph = page.locator("[data-svg-viewport]")
            wait_until_shown(graph, GRAPH_GROUPS)
            hide_side_panels(page)
            choose_graph_setting(page, graph, "Change graph to vertical orientation")
            for group in OPEN_GROUPS:
                open_group(page, graph, group)
            graph.get_by_text(MATERIALIZING).first.wait_for(state="hidden", timeout=QUIET_TIMEOUT_MS)
            assets = [asset for members in OPEN_GROUPS.values() for asset in members]
            wait_until_shown(graph, [*GRAPH_GROUPS, *assets])
            # Every open asset is computed from something drawn, so at least one edge leads into each.
            edges = graph.locator("svg path[marker-end]").count()
            assert edges >= len(assets), f"the graph draws {edges} edges for {len(assets)} assets"
            assert_fits(graph)
            return self._shoot(page, "asset-graph.png")

    def backfill(self, backfill_id: str, assets: Iterable[str]) -> Path:
        """The backfill's page: its status, range and per-asset progress. Opened by its address: the test reached it
        through the UI's links already, and a click on the Backfills list, which re-renders as it polls, once
        never navigated."""
        with self._page("backfill.png") as page:
            page.goto(f"{self.base_url}/runs/b/{backfill_id}")
            wait_until_shown(page.locator("body"), [backfill_id, *assets])
            status = page.locator(BACKFILL_STATUS).first.inner_text().strip()
            assert status == "Succeeded", f"the backfill's page shows {status!r}"
            return self._shoot(page, "backfill.png")

    def check_metadata(self, asset: str, check: str) -> Path:
        """The asset's Checks tab on `check`: its latest result with the metadata it recorded."""
        with self._page("check-metadata.png") as page:
            page.goto(f"{self.base_url}/assets/{asset}")
            page.get_by_role("tab", name="Checks").click()
            page.get_by_text(check, exact=True).first.click()
            page.wait_for_url(f"**checkDetail={check}**")
            wait_until_shown(page.locator("body"), [asset, check, "Latest execution", "Passed", *CHECK_METADATA])
            return self._shoot(page, "check-metadata.png")


def hide_side_panels(page) -> None:
    """Hide the main navigation, then the graph's group tree: the graph gets the window's width."""
    page.get_by_role("button", name="Hide navigation").click()
    # The navigation hidden, the tree's toggle is the only button left with this icon (it has no name).
    page.locator("button:has([aria-label=panel_show_right])").click()
    page.get_by_placeholder("Jump to").wait_for(state="hidden")


def choose_graph_setting(page, graph, item: str) -> None:
    graph.locator("button:has([aria-label=settings])").click()
    page.get_by_role("menuitem", name=item).click()
    page.get_by_role("menuitem", name=item).wait_for(state="hidden")


def fit_graph(page, graph) -> None:
    """The UI's own fit: a double-click on the graph's background zooms it to the window's width (a vertical graph
    is wider than tall, so all of it). Dispatched on the background element itself, so no node takes it."""
    graph.dispatch_event("dblclick")
    wait_until_still(page, graph.locator(":scope > div").first)  # the element the zoom transforms


def open_group(page, graph, group: str) -> None:
    """Open a collapsed group; the UI then zooms onto it, so fit the whole graph again."""
    box = graph.locator("foreignObject.group", has_text=group)
    box.get_by_role("img", name="unfold_more").click()
    box.get_by_role("img", name="unfold_more").wait_for(state="detached")  # an open group offers to collapse
    fit_graph(page, graph)


def assert_fits(graph) -> None:
    """Every node of the graph lies inside the visible graph area."""
    area = graph.bounding_box()
    nodes = [box for box in (node.bounding_box() for node in graph.locator("foreignObject").all()) if box]
    assert nodes, "the graph draws no node"
    outside = [
        box
        for box in nodes
        if box["x"] < area["x"] - 1
        or box["y"] < area["y"] - 1
        or box["x"] + box["width"] > area["x"] + area["width"] + 1
        or box["y"] + box["height"] > area["y"] + area["height"] + 1
    ]
    assert not outside, f"{len(outside)} of {len(nodes)} graph nodes lie outside the window: {outside[:3]}"
