"""What a link table is (tables.py) and the assets that write it (assets.py, project_assets.py): the three assets'
Dagster definitions, and the SQL that defines a Front table's rows, which reads the people table only when the
source's keys leave a linked person's existence in doubt."""

from __future__ import annotations

import dagster as dg

from convo_pipelines.defs.links.assets import clients_front_conversations, people_front_conversations
from convo_pipelines.defs.links.project_assets import project_conversations
from convo_pipelines.defs.links.tables import PEOPLE_LINKS, front_definition
from convo_pipelines_tests.links.link_runs import (
    CLIENTS,
    FRONT_ASSETS,
    FULL_RANGE,
    PEOPLE,
    PROJECTS,
    assert_front_tables_exact,
    metadata_of,
    run_assets,
)
from convo_pipelines_tests.source_data import build_source_data


def test_definitions_describe_the_three_link_assets() -> None:
    from convo_pipelines.definitions import defs

    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert {PEOPLE, CLIENTS, PROJECTS} <= keys
    for asset in (people_front_conversations, clients_front_conversations, project_conversations):
        spec = next(iter(asset.specs))
        assert spec.group_name == "links"
        assert spec.kinds == {"postgres"}
        assert spec.owners == ["team:data-platform"]
        assert spec.description and len(spec.description) > 40
        schema = spec.metadata["dagster/column_schema"]
        assert {column.name for column in schema.columns} >= {"id"}
        assert spec.metadata["dagster/table_name"] == f"public.{spec.key.to_user_string()}"
    assert people_front_conversations.backfill_policy == dg.BackfillPolicy.single_run()
    assert clients_front_conversations.backfill_policy == dg.BackfillPolicy.single_run()
    assert project_conversations.partitions_def is None
    clients_deps = {dep.asset_key for dep in next(iter(clients_front_conversations.specs)).deps}
    # Computed from the people links, with the conversations' days and the people's current clients.
    assert clients_deps == {
        people_front_conversations.key,
        *map(dg.AssetKey, ("front_conversations", "people", "clients")),
    }


def test_a_bulk_run_leaves_out_the_people_join_only_when_the_sources_key_proves_it(db, postgres) -> None:
    """contact_methods.person_id's validated foreign key proves every linked person exists: a fill and a diff
    then read no people table, and the tables are exact. A key NOT VALID (or none: the other tests' dangling
    person) proves nothing, and a scoped run always keeps the join (asking the catalog costs it more)."""
    build_source_data(db, dangling_references=False)

    def oracle_text(bulk: bool) -> str:
        with postgres.session() as session:
            return front_definition(session, PEOPLE_LINKS, bulk=bulk).as_string(session.conn)

    people_join = '"public".people as person'
    assert people_join not in oracle_text(bulk=True)
    assert people_join in oracle_text(bulk=False)
    result = run_assets(postgres, FRONT_ASSETS, FULL_RANGE)
    assert metadata_of(result, PEOPLE)["mode"] == "bulk"
    assert_front_tables_exact(db)
    run_assets(postgres, FRONT_ASSETS, FULL_RANGE)  # a diff of the whole range, still without the join
    assert_front_tables_exact(db)

    db.execute("alter table public.contact_methods drop constraint contact_methods_person_id_fkey")
    db.execute(
        "alter table public.contact_methods add constraint contact_methods_person_id_fkey "
        "foreign key (person_id) references public.people (id) on delete set null not valid"
    )
    assert people_join in oracle_text(bulk=True)
