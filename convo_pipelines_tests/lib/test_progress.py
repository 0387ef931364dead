"""Progress lines of long runs: steps, rows, rate and the time left, on a clock the test controls."""

from convo_pipelines.lib.writing.progress import Progress, format_seconds


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


def test_rows_counted_one_by_one_log_a_line_per_chunk_and_the_last_partial_one() -> None:
    now = [0.0]
    lines: list[str] = []
    progress = Progress.in_chunks_of_rows(
        lines.append, "  histories", total_rows=7, rows_per_chunk=3, clock=lambda: now[0]
    )
    for _ in range(7):
        now[0] += 0.5
        progress.add_rows()
    assert len(lines) == 2  # after rows 3 and 6; the seventh is in the unfinished last chunk
    progress.finish()
    progress.finish()  # nothing left: no second line
    assert lines == [
        "  histories: 1/3 chunks of 3 rows, 3 rows, 2 rows/s, elapsed 1.5s, ETA 3.0s",
        "  histories: 2/3 chunks of 3 rows, 6 rows, 2 rows/s, elapsed 3.0s, ETA 1.5s",
        "  histories: 3/3 chunks of 3 rows, 7 rows, 2 rows/s, elapsed 3.5s, ETA 0.0s",
    ]
    nothing: list[str] = []
    Progress.in_chunks_of_rows(nothing.append, "empty", total_rows=0, rows_per_chunk=3).finish()
    assert nothing == []


def test_steps_closer_than_every_seconds_share_a_line_and_the_last_always_logs() -> None:
    now = [0.0]
    lines: list[str] = []
    progress = Progress(lines.append, "batches", total_steps=5, clock=lambda: now[0], every_seconds=5.0)
    for _ in range(5):
        now[0] += 2.0
        progress.advance(rows=10)
    # The first step logs (t=2), t=4 and t=6 are within 5 s of it, t=8 is not, the fifth (t=10) is the last.
    assert lines == [
        "batches: 1/5 chunks, 10 rows, 5 rows/s, elapsed 2.0s, ETA 8.0s",
        "batches: 4/5 chunks, 40 rows, 5 rows/s, elapsed 8.0s, ETA 2.0s",
        "batches: 5/5 chunks, 50 rows, 5 rows/s, elapsed 10.0s, ETA 0.0s",
    ]
