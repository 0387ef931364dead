"""The plan of a first fill's staging: its DISTINCT hands the pairs over already in the order they are numbered in."""

from __future__ import annotations

import psycopg

from convo_pipelines.defs.links.first_fill import first_fill_staging_statement, set_first_fill_staging_settings
from convo_pipelines.defs.links.tables import BEGINNING_OF_TIME, END_OF_TIME, FRONT_LINK_TABLES
from convo_pipelines.defs.links.windows import window_params
from convo_pipelines_tests.source_data import build_source_data


def plan_nodes(plan: dict) -> list[dict]:
    """Every node of an EXPLAIN (FORMAT JSON) plan, parents first."""
    nodes = [plan]
    for child in plan.get("Plans", []):
        nodes.extend(plan_nodes(child))
    return nodes


def test_a_first_fill_s_staging_sorts_its_pairs_once_in_conversation_order(db, postgres) -> None:
    """A hashed DISTINCT, or one sorted owner first, would make the staging sort its pairs a second time (on disk, at
    a million conversations) before numbering them; the numbering and the conversations' ends take two window
    aggregates over that one sort."""
    build_source_data(db)
    for spec in FRONT_LINK_TABLES:
        with postgres.session(autocommit=True) as session, session.conn.transaction():
            set_first_fill_staging_settings(session)
            explain = psycopg.sql.SQL("explain (format json) {}").format(first_fill_staging_statement(session, spec))
            cursor = psycopg.ClientCursor(session.conn)
            (document,) = cursor.execute(explain, window_params(BEGINNING_OF_TIME, END_OF_TIME)).fetchone()
            raise psycopg.Rollback()  # the settings go with the transaction
        nodes = plan_nodes(document[0]["Plan"])
        sorts = [node for node in nodes if node["Node Type"] in ("Sort", "Incremental Sort")]
        assert not [node for node in nodes if node.get("Strategy") == "Hashed"], spec.table
        assert len(sorts) == 1, f"{spec.table}: {[node['Sort Key'] for node in sorts]}"
        assert sorts[0]["Sort Key"][0].endswith("front_conversation_id"), sorts[0]["Sort Key"]
        assert sorts[0]["Sort Key"][1].endswith(spec.owner_column), sorts[0]["Sort Key"]
        assert len([node for node in nodes if node["Node Type"] == "WindowAgg"]) == 2, spec.table
