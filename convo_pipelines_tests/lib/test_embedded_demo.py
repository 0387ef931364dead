"""The embedded demo prepares its database with the product's own seeder: on the first start the source tables, every
migration and a demo; on every later start the data as it is."""

from __future__ import annotations

from convo_pipelines.lib.embedded.demo import DemoSize, demo_first_day, prepare_embedded
from convo_pipelines.lib.migrations.runner import applied_versions
from convo_pipelines.lib.migrations.shipped import available_migrations
from convo_pipelines.lib.postgres.db import connect, count_rows
from convo_pipelines.lib.settings import Settings

SIZE = DemoSize(conversations=60, messages=90, days=3, seed=2)


def test_the_first_start_seeds_the_demo_and_a_later_one_reuses_it(empty_database_url: str) -> None:
    settings = Settings.from_env({})
    said: list[str] = []

    assert prepare_embedded(settings, empty_database_url, SIZE, said.append)
    assert said[0] == "applied migration 0001_link_tables"
    assert "first start: seeding a demo of 60 conversations" in said
    with connect(empty_database_url) as conn:
        assert applied_versions(conn, "public") == [migration.version for migration in available_migrations()]
        assert count_rows(conn, "public", "front_conversations") == SIZE.conversations
        assert count_rows(conn, "public", "crews") > 0
    assert demo_first_day(empty_database_url, settings) is not None

    said.clear()
    assert not prepare_embedded(settings, empty_database_url, SIZE, said.append)
    assert said == ["reusing the existing demo data: 60 front conversations"]
