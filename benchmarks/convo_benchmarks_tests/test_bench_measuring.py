"""How the bench measures: a watched run's output read to its end, and a subscriber's lag from the
upstream positions it confirmed."""

from __future__ import annotations

import os
import sys

from convo_benchmarks.bench_replication_figures import LagSample, peak_lag_bytes, peak_lag_seconds
from convo_benchmarks.bench_runs import run_watching_rss


def test_a_run_that_prints_more_than_a_pipe_holds_is_watched_to_its_end() -> None:
    # 1 MiB of output: through an unread pipe the process would block after 64 KiB and the watch never end.
    script = "import sys\nfor _ in range(1024): sys.stdout.write('x' * 1023 + '\\n')\nsys.exit(3)"
    returncode, output, peak_mb = run_watching_rss([sys.executable, "-c", script], dict(os.environ))
    assert returncode == 3
    assert len(output) == 1024 * 1024
    assert peak_mb > 1


def test_the_subscriber_lag_is_the_age_of_the_newest_upstream_position_it_confirmed() -> None:
    # The upstream's WAL at 100, 200, 300, 400 at 0, 1, 2, 3 s; the subscriber confirms 100, 100, 300, 400.
    samples = [
        LagSample(0.0, 100, 100),
        LagSample(1.0, 200, 100),
        LagSample(2.0, 300, 300),
        LagSample(3.0, 400, 400),
    ]
    # At 1 s its copy is the upstream's as of 0 s; caught up at 2 and 3 s.
    assert peak_lag_seconds(samples) == 1.0
    assert peak_lag_bytes(samples) == 100
    # Confirmed behind every sample: as old as the first sample at least.
    assert peak_lag_seconds([LagSample(5.0, 100, 50), LagSample(7.5, 200, 50)]) == 2.5
    assert peak_lag_seconds([]) == 0.0 and peak_lag_bytes([]) == 0
