"""The pipeline's writes reach the application's logical-replication consumers as row changes they can apply:
a real zero-cache (Rocicorp Zero 1.9, as the app runs it) and a native PostgreSQL subscriber to
each kind of publication a DBA may have, through a first fill, a re-run, a late change, the nightly
reconcile and a migration rolled back and applied again.

After each step the consumer must still run and hold exactly what the publisher holds. A run that built a
table aside in the source schema and swapped it in would make zero-cache exit (`Unknown table ...`) and a
subscriber to FOR TABLES IN SCHEMA public stop at the first row of the table it did not have.

One publisher (wal_level = logical, conftest.py) and one subscriber server per module, a fresh database pair
per case; both on localhost ports (convo_pipelines_tests/postgres_clusters.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from convo_pipelines_tests.native_subscriber import PUBLICATION_KINDS, NativeSubscriber
from convo_pipelines_tests.postgres_clusters import PostgresCluster, running_cluster
from convo_pipelines_tests.replication_steps import Application, NoConsumer, follow_every_step
from convo_pipelines_tests.zero_cache import ZeroCache

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def subscriber_server() -> Iterator[PostgresCluster]:
    """The native subscribers' server; it reports its progress every second, so a test waits no longer."""
    with running_cluster("subscriber", wal_receiver_status_interval="1s") as cluster:
        yield cluster


@pytest.mark.parametrize("kind", PUBLICATION_KINDS)
def test_a_native_subscriber_applies_every_run(
    kind: str, app: Application, publisher: PostgresCluster, publisher_db: str, subscriber_server: PostgresCluster
) -> None:
    if kind == "none":
        follow_every_step(app, NoConsumer())
        return
    with NativeSubscriber.subscribed(kind, app, publisher, publisher_db, subscriber_server) as subscriber:
        follow_every_step(app, subscriber)


def test_zero_cache_keeps_running_and_holds_the_link_tables(app: Application, tmp_path: Path) -> None:
    with ZeroCache.running(app.url, tmp_path) as zero:
        follow_every_step(app, zero)
