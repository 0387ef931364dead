"""Progress lines of long runs: steps, rows, rate and the time left, on a clock the test controls."""

from convo_pipelines.lib.progress import Progress, format_seconds


def test_progress_reports_rows_rate_and_eta() -> None:
    now = [100.0]
    lines: list[str] = []
    progress = Progress(lines.append, "people_front_conversations", total_steps=4, clock=lambda: now[0])
    assert progress.eta_seconds() is None
    now[0] = 102.0
    first = progress.advance(rows=1_000)
    now[0] = 104.0
    second = progress.advance(rows=3_000)
    assert lines == [first, second]
    assert first == "people_front_conversations: 1/4 chunks, 1,000 rows, 500 rows/s, elapsed 2.0s, ETA 6.0s"
    assert second == "people_front_conversations: 2/4 chunks, 4,000 rows, 1,000 rows/s, elapsed 4.0s, ETA 4.0s"


def test_format_seconds_is_short() -> None:
    assert format_seconds(3.24) == "3.2s"
    assert format_seconds(245) == "4m05s"
    assert format_seconds(3720) == "1h02m"
