"""A check step that runs again in a re-execution (the daemon's retry from a failed step, the UI's "Re-execute"),
after other runs wrote the table: it verifies what the run it re-executes wrote, against the source as that run
read it, whatever the runs since wrote or have still to write."""

from uuid import UUID

import dagster as dg
import psycopg

from convo_pipelines.defs.links.late_change_runs import scoped_run_config
from convo_pipelines.defs.partitions import partition_range_tags
from convo_pipelines.defs.resources import PostgresResource
from convo_pipelines_tests.conftest import ANALYTICS_SCHEMA, SOURCE_SCHEMA
from convo_pipelines_tests.helpers import definitions_bound_to
from convo_pipelines_tests.links.checks.check_runs import DATA_RANGE, count, evaluations, samples
from convo_pipelines_tests.links.link_runs import jan
from convo_pipelines_tests.source_data import SourceData, build_source_data

PEOPLE_CHECKS_STEP = "people_front_conversations_checks"
# Steps in the test's process, as materialize() runs them: the instance is the test's, in memory.
IN_PROCESS = {"execution": {"config": {"in_process": {}}}}


def front_links_job_on(database_url: str) -> dg.JobDefinition:
    """The project's front_links_job on the test's database: what a re-execution rebuilds by name."""
    postgres = PostgresResource(
        database_url=database_url, source_schema=SOURCE_SCHEMA, analytics_schema=ANALYTICS_SCHEMA
    )
    return definitions_bound_to(postgres).resolve_job_def("front_links_job")


def test_a_re_executed_check_compares_what_its_run_named_as_that_run_read_the_source(
    database_url: str, db: psycopg.Connection
) -> None:
    source = build_source_data(db)
    job = dg.build_reconstructable_job(
        __name__, front_links_job_on.__name__, reconstructable_kwargs={"database_url": database_url}
    )
    day = jan(12)

    with dg.DagsterInstance.ephemeral() as instance:

        def run(conversations=None, reexecuting: str | None = None) -> dg.JobExecutionResult:
            """A run of the job, scoped to `conversations` of the day as the sensor asks; re-executing the people
            checks' step of the run `reexecuting` (with its run config and tags, as Dagster's retries do)."""
            return dg.execute_job(
                job,
                instance,
                run_config={
                    **(scoped_run_config([str(c) for c in conversations]) if conversations else {}),
                    **IN_PROCESS,
                },
                tags={"dagster/partition": day.date().isoformat()}
                if conversations
                else partition_range_tags(*DATA_RANGE),
                reexecution_options=dg.ReexecutionOptions(reexecuting, [PEOPLE_CHECKS_STEP]) if reexecuting else None,
                raise_on_error=False,
            )

        assert run().success
        moved_on, corrupted, pending = linked_conversations_on(db, source, day, 3)
        # The app links `pending`'s conversation to one more person; the late-change run that will write it is
        # still in the queue.
        add_a_recipient(db, pending, source.people[2])
        scoped = run([moved_on, corrupted])
        assert scoped.success
        # Another late-change run writes the table after the scoped one; then the app moves on in a conversation
        # the scoped run named.
        assert run([source.front_conversations_on(jan(13))[0]]).success
        add_a_recipient(db, moved_on, source.people[3])

        again = evaluations(run([moved_on, corrupted], reexecuting=scoped.run_id))
        exactness = again[("people_front_conversations", "matches_source")]
        assert exactness.passed, exactness.metadata
        assert exactness.metadata["scope"].value.startswith("the 2 conversations the run recomputed")

        # A link lost behind the pipeline's back among the conversations the scoped run named is found.
        lost = db.execute(
            "delete from public.people_front_conversations where (person_id, front_conversation_id) = "
            "(select person_id, front_conversation_id from public.people_front_conversations "
            "where front_conversation_id = %s order by person_id limit 1) returning person_id, front_conversation_id",
            (corrupted,),
        ).fetchone()
        exactness = evaluations(run([moved_on, corrupted], reexecuting=scoped.run_id))[
            ("people_front_conversations", "matches_source")
        ]
        assert not exactness.passed
        assert count(exactness, "missing") == 1 and count(exactness, "extra") == 0
        assert [(UUID(s["person_id"]), UUID(s["front_conversation_id"])) for s in samples(exactness, "missing")] == [
            tuple(lost)
        ]


def linked_conversations_on(db: psycopg.Connection, source: SourceData, day, how_many: int) -> list[UUID]:
    """`how_many` Front conversations created on `day` that have people links."""
    on_day = [str(c) for c in source.front_conversations_on(day)]
    rows = db.execute(
        "select distinct front_conversation_id from public.people_front_conversations "
        "where front_conversation_id = any(%s::uuid[]) order by 1 limit %s",
        (on_day, how_many),
    ).fetchall()
    assert len(rows) == how_many
    return [row[0] for row in rows]


def add_a_recipient(db: psycopg.Connection, conversation: UUID, person: UUID) -> None:
    """The app adds one of `person`'s contact methods as a recipient of the conversation's first message, now."""
    db.execute(
        "insert into public.front_message_recipients (front_message_id, contact_method_id, created_at, updated_at) "
        "select (select min(id::text)::uuid from public.front_messages where front_conversation_id = %(conversation)s), "
        "(select min(id::text)::uuid from public.contact_methods where person_id = %(person)s), now(), now()",
        {"conversation": conversation, "person": person},
    )
