"""The docs' performance page is what the committed bench results generate."""

from __future__ import annotations

from convo_benchmarks.bench_report import performance_page, read_run
from convo_pipelines_tests.docs_pages import ROOT


def test_the_performance_page_is_what_the_committed_bench_results_generate() -> None:
    runs = [read_run(path) for path in sorted((ROOT / "docs" / "bench").glob("*.json"))]
    assert runs, "docs/bench holds no bench results"
    committed = (ROOT / "docs" / "performance.md").read_text(encoding="utf-8")
    assert committed == performance_page(runs), (
        "docs/performance.md differs from what docs/bench/*.json generate: "
        "run `convo-pipelines bench-report docs/bench/*.json --page docs/performance.md`"
    )
