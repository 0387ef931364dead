"""The plans of a first fill: its staging's DISTINCT hands the pairs over already in the order they are numbered in,
and each slice sorts them into id order in memory."""

from __future__ import annotations

import psycopg

from convo_pipelines.defs.links.config import FILL_SLICE_LINKS
from convo_pipelines.defs.links.first_fill import first_fill_staging_statement, set_first_fill_staging_settings
from convo_pipelines.defs.links.front_inserts import (
    first_fill_slice_statement,
    link_id_draw,
    set_first_fill_slice_settings,
)
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


def test_a_first_fill_s_slice_sorts_its_links_in_memory(postgres) -> None:
    """A slice of max_fill_slice_links sorts its staged pairs into id order: at the server's default work_mem that
    sort spills to disk, a temporary file written and read back by every slice of the fill."""
    spec = FRONT_LINK_TABLES[0]
    with postgres.session(autocommit=True) as session, session.conn.transaction():
        staged = psycopg.sql.SQL(
            "create unlogged table {schema}.{table} as select position, position as conversation_end,"
            " gen_random_uuid() as {owner}, gen_random_uuid() as front_conversation_id,"
            " now() as front_conversation_created_at from generate_series(1::bigint, {pairs}) as position"
        ).format(
            schema=psycopg.sql.Identifier(session.analytics_schema),
            table=psycopg.sql.Identifier(spec.first_fill_table),
            owner=psycopg.sql.Identifier(spec.owner_column),
            pairs=psycopg.sql.Literal(FILL_SLICE_LINKS),
        )
        session.execute(staged)
        set_first_fill_slice_settings(session)
        explain = psycopg.sql.SQL("explain (analyze, format json) {}").format(first_fill_slice_statement(session, spec))
        params = {"after_position": 0, "slice_links": FILL_SLICE_LINKS, **link_id_draw(session)}
        (document,) = psycopg.ClientCursor(session.conn).execute(explain, params).fetchone()
        raise psycopg.Rollback()  # the staged pairs, the slice and the settings go with the transaction
    sorts = [node for node in plan_nodes(document[0]["Plan"]) if node["Node Type"] == "Sort"]
    assert sorts, "the slice's plan has no sort"
    assert [node["Sort Space Type"] for node in sorts] == ["Memory"] * len(sorts), sorts
