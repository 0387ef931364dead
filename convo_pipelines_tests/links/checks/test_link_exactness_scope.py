"""What the link tables' exactness checks compare: a run's window or the whole table, a sample or the
conversations a scoped run named, and what the app changed after the run started left to the next run."""

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from psycopg import sql

from convo_pipelines.defs.links.checks import CONSTRAINTS_IN_FORCE, SAMPLE_CONVERSATIONS
from convo_pipelines.defs.links.tables import FRONT_LINK_TABLES
from convo_pipelines.lib.postgres.session import Session
from convo_pipelines_tests.helpers import utc_day_ahead
from convo_pipelines_tests.links.checks.check_runs import (
    FRONT_TABLES,
    WARN_CHECKS,
    checks_of,
    count,
    evaluations,
    execute,
    front_assets,
    project_asset,
    run_checks_alone,
    samples,
)


def exactness_statement(session: Session, sampled: bool = False, excusing: bool = True) -> sql.Composed:
    """The people links' exactness SQL over every conversation of its window, or over a sample of them; with
    `excusing` False, as the check's first statement after a run, which excuses no difference."""
    scope = "scope_sampled_front_conversations" if sampled else "scope_window_front_conversations"
    unsettled = "select_unsettled_front_conversations" if excusing else "excuse_no_front_conversations"
    return session.sql(
        "links/checks/check_front_links_exactness.sql",
        link_table="people_front_conversations",
        owner_column="person_id",
        expected=session.sql("links/checks/select_expected_people_links.sql"),
        scoped_conversations=session.sql(f"links/checks/{scope}.sql"),
        unsettled=session.sql(f"links/checks/{unsettled}.sql"),
    )


def test_front_checks_cover_only_the_run_window(built, postgres, db, source):
    """A partition run checks its day only; launched alone the same check sees the whole table."""
    day_9 = source.last_instant_of_jan_9  # created 2024-01-09 23:59:59.999999: day 9, not day 10
    db.execute("delete from public.people_front_conversations where front_conversation_id = %s", (day_9,))

    day_10 = dg.materialize(
        [*front_assets, *checks_of(*FRONT_TABLES)], resources={"postgres": postgres}, partition_key="2024-01-10"
    )
    in_window = evaluations(day_10)[("people_front_conversations", "matches_source")]
    assert in_window.passed
    assert in_window.metadata["scope"].value == (
        f"a random sample of up to {SAMPLE_CONVERSATIONS:,} conversations "
        "(conversations created in [2024-01-10T00:00:00+00:00, 2024-01-11T00:00:00+00:00))"
    )
    alone = run_checks_alone(postgres, "people_front_conversations")[("people_front_conversations", "matches_source")]
    assert not alone.passed and count(alone, "missing") >= 1
    assert {s["front_conversation_id"] for s in samples(alone, "missing")} == {str(day_9)}


def test_window_bounds_of_the_check_sql(built, postgres, db, db_session, source):
    """The check SQL scopes by created_at half-open; a null start is open (the first partition)."""
    db.execute(
        "delete from public.people_front_conversations where front_conversation_id = %s",
        (source.last_instant_of_jan_9,),
    )
    db.execute(
        "delete from public.people_front_conversations where front_conversation_id = %s",
        (source.before_partitions_start,),
    )

    def missing_in(start: datetime | None, end: datetime | None) -> int:
        statement = exactness_statement(db_session)
        rows = db.execute(
            statement, {"window_start": start, "window_end": end, "sample_limit": 5, "changed_since": None}
        ).fetchall()
        return {problem: violations for problem, violations, _ in rows}["missing"]

    removed_before_start = missing_in(None, None) - missing_in(datetime(2024, 1, 1, tzinfo=UTC), None)
    assert removed_before_start > 0  # the conversation created before the partitions' start had links
    assert missing_in(None, datetime(2024, 1, 1, tzinfo=UTC)) == removed_before_start
    assert missing_in(datetime(2024, 1, 9, tzinfo=UTC), datetime(2024, 1, 10, tzinfo=UTC)) > 0
    assert missing_in(datetime(2024, 1, 10, tzinfo=UTC), datetime(2024, 1, 11, tzinfo=UTC)) == 0


def test_a_difference_the_app_made_after_the_run_started_is_left_to_the_next_run(
    built, postgres, db, db_session, source
):
    """matches_source compares with the source as it is when the check runs: a recipient the app adds
    after the run started is not a failure of that run (the next run links it); one added before is."""
    person = source.people[2]
    contact_method = next(cm for cm, owner in source.contact_methods.items() if owner == person)
    conversation = db.execute(
        "select m.front_conversation_id from public.front_messages as m where m.front_conversation_id not in "
        "(select front_conversation_id from public.people_front_conversations where person_id = %s) order by m.id limit 1",
        (person,),
    ).fetchone()[0]
    now = db.execute("select now()").fetchone()[0]
    db.execute(
        "insert into public.front_message_recipients (front_message_id, contact_method_id, created_at, updated_at) "
        "select min(id::text)::uuid, %s, %s, %s from public.front_messages where front_conversation_id = %s",
        (contact_method, now, now, conversation),
    )

    def missing(changed_since: datetime | None, excusing: bool = True) -> int:
        params = {"window_start": None, "window_end": None, "sample_limit": 5, "changed_since": changed_since}
        rows = db.execute(exactness_statement(db_session, excusing=excusing), params).fetchall()
        return {problem: count for problem, count, _ in rows}["missing"]

    assert missing(None) == 1
    assert missing(now - timedelta(minutes=1)) == 0  # the run started before the app's change
    assert missing(now + timedelta(minutes=1)) == 1  # the change predates the run: the run should have linked it
    # The check's first statement after a run excuses nothing: it finds the difference, so the check asks again
    # with the probes (a clean first answer is final only because excusing can never add a difference).
    assert missing(now - timedelta(minutes=1), excusing=False) == 1


def test_the_sampled_comparison_finds_every_kind_of_wrong_row_among_the_conversations_it_compares(
    built, postgres, db, db_session
):
    """The comparison that follows a run: missing, extra and stale rows are found in the conversations it
    compares (those a scoped run named, or a random sample), and nothing is reported for the others."""
    table = "people_front_conversations"
    conversations = [
        row[0]
        for row in db.execute(
            "select front_conversation_id from public.people_front_conversations group by 1 having count(*) >= 2 order by 1 limit 4"
        )
    ]
    missing_in, stale_in, extra_in, untouched = conversations
    execute(
        db,
        "delete from public.{} where id = (select min(id::text)::uuid from public.{} where front_conversation_id = %s)",
        table,
        table,
        params=(missing_in,),
    )
    execute(
        db,
        "update public.{} set front_conversation_created_at = front_conversation_created_at - interval '1 hour' "
        "where id = (select min(id::text)::uuid from public.{} where front_conversation_id = %s)",
        table,
        table,
        params=(stale_in,),
    )
    execute(
        db,
        "insert into public.{} (person_id, front_conversation_id, front_conversation_created_at) "
        "select p.id, fc.id, fc.created_at from public.people as p cross join public.front_conversations as fc "
        "where fc.id = %s and not exists (select from public.{} as l where l.person_id = p.id and l.front_conversation_id = fc.id) "
        "order by p.id limit 1",
        table,
        table,
        params=(extra_in,),
    )

    def problems(
        only: list | None, sample: int | None, seed: int = 1, excusing: bool = True
    ) -> dict[str, tuple[int, set[str]]]:
        params = {
            "window_start": None,
            "window_end": None,
            "sample_limit": 5,
            "changed_since": None,
            "only_conversation_ids": only,
            "sample_conversations": sample,
            "sample_seed": seed,
        }
        rows = db.execute(exactness_statement(db_session, sampled=True, excusing=excusing), params).fetchall()
        return {problem: (n, {s["front_conversation_id"] for s in found}) for problem, n, found in rows}

    named = problems([missing_in, stale_in, extra_in], None)
    assert named["missing"] == (2, {str(missing_in), str(stale_in)})  # a stale copy is one missing and one extra row
    assert named["extra"] == (2, {str(stale_in), str(extra_in)})
    assert problems([untouched], None) == {"missing": (0, set()), "extra": (0, set())}
    conversation_count = db.execute("select count(*) from public.front_conversations").fetchone()[0]
    assert problems(None, conversation_count) == named  # a sample as large as the table draws every conversation
    # A sample of one conversation compares one conversation's links: at most one wrong row of each kind here.
    one = problems(None, 1)
    assert one["missing"][0] <= 1 and one["extra"][0] <= 1
    # One check's statements draw the same sample (its seed): what the first pass found, the full statement
    # compares again, rather than a fresh draw that could miss it. Seeds draw different samples.
    samples_of_one = {seed: problems(None, 1, seed=seed, excusing=False) for seed in range(40)}
    assert all(problems(None, 1, seed=seed) == found for seed, found in samples_of_one.items())
    assert any(found["missing"][0] for found in samples_of_one.values())
    assert any(not found["missing"][0] and not found["extra"][0] for found in samples_of_one.values())


def test_the_project_comparison_after_a_scoped_run_compares_exactly_the_conversations_it_named(
    built, postgres, db, db_session, source
):
    """After a scoped project run the exactness check compares the conversations the run named: every kind of
    wrong row among them is found, and nothing about the others."""
    linked = sorted(
        (conversation for conversation, project in source.conversations.items() if project == source.projects[0]),
        key=str,
    )
    missing_in, wrong_added_by_in, untouched = linked[:3]
    extra_in = source.conversations_without_project[0]
    db.execute("delete from public.project_conversations where conversation_id = %s", (missing_in,))
    db.execute(
        "update public.project_conversations set added_by = null where conversation_id = %s", (wrong_added_by_in,)
    )
    db.execute(
        "insert into public.project_conversations (project_id, conversation_id) values (%s, %s)",
        (source.projects[1], extra_in),
    )

    def problems(only: list | None, changed_since: datetime | None = None) -> dict[str, set[str]]:
        params = {
            "sample_limit": 5,
            "sample_conversations": None,
            "only_conversation_ids": only,
            "changed_since": changed_since,
        }
        rows = db.execute(db_session.sql("links/checks/check_project_links_exactness.sql"), params).fetchall()
        return {problem: {s["conversation_id"] for s in found} for problem, n, found in rows if n}

    expected = {"missing": {str(missing_in)}, "extra": {str(extra_in)}, "wrong_added_by": {str(wrong_added_by_in)}}
    assert problems([missing_in, wrong_added_by_in, extra_in]) == expected
    assert problems([untouched]) == {}
    assert problems(None) == expected  # neither: every row
    # The app moved on after a run started: the conversation or its project stamped since are left to the next run.
    run_started = db.execute("select now()").fetchone()[0]
    assert problems(None, run_started) == expected  # nothing stamped since
    db.execute("update public.conversations set updated_at = now() where id = %s", (extra_in,))
    db.execute("update public.projects set updated_at = now() where id = %s", (source.projects[0],))
    assert problems(None, run_started) == {}
    # A stamp later than the check is a skewed clock: it excuses nothing.
    db.execute("update public.projects set updated_at = now() + interval '1 hour' where id = %s", (source.projects[0],))
    assert problems(None, run_started) == {"missing": {str(missing_in)}, "wrong_added_by": {str(wrong_added_by_in)}}

    # Through a scoped run: its check compares the conversation it named, which the run made right again.
    scope = {"config": {"only_conversation_ids": [str(missing_in)]}}
    after_run = dg.materialize(
        [project_asset, *checks_of("project_conversations")],
        resources={"postgres": postgres},
        run_config={"ops": {"project_conversations": scope}},
    )
    exactness = evaluations(after_run)[("project_conversations", "matches_source")]
    assert exactness.passed
    assert exactness.metadata["scope"].value == "the 1 conversations the run reconciled"


def test_the_checks_of_the_last_partition_cover_the_conversations_dated_after_it(built, postgres, db):
    """A check in a run of today's partition covers what that partition owns: its day and every later date,
    so the conversation a skewed clock dated next month is compared there, and passes once linked."""
    table = "people_front_conversations"
    conversation = db.execute(f"select front_conversation_id from public.{table} order by id limit 1").fetchone()[0]
    db.execute(
        "update public.front_conversations set created_at = now() + interval '40 days' where id = %s", (conversation,)
    )
    today = utc_day_ahead(db).isoformat()  # the last partition for the whole test
    refreshed = dg.materialize(
        [front_assets[0], *checks_of(table)], resources={"postgres": postgres}, partition_key=today
    )
    found = evaluations(refreshed)
    assert all(e.passed for key, e in found.items() if key[1] not in WARN_CHECKS)
    window = f"conversations created in [{today}T00:00:00+00:00, infinity)"
    assert found[(table, "no_orphans")].metadata["scope"].value == CONSTRAINTS_IN_FORCE
    # The only conversation of that window is the one dated next month: the comparison drew it.
    assert found[(table, "matches_source")].metadata["scope"].value.endswith(f"({window})")


@pytest.mark.parametrize("table", ["people_front_conversations", "clients_front_conversations"])
def test_the_app_moving_on_is_probed_per_differing_conversation_never_hashed_whole(
    table, built, postgres, db, db_session
):
    """Whether a difference is the app moving on is asked of the differing conversations alone, through the
    source's indexes. Planned as a hashed subplan, it read and hashed every recipient of the source once the
    app had changed one compared conversation: 30 s after a 1,000,000-conversation fill beside the app."""
    link = next(spec for spec in FRONT_LINK_TABLES if spec.table == table)
    owner = {"link_table": table, "owner_column": link.owner_column}
    statement = db_session.sql(
        "links/checks/check_front_links_exactness.sql",
        **owner,
        expected=db_session.sql(link.expected_links_sql, **owner),
        scoped_conversations=db_session.sql("links/checks/scope_sampled_front_conversations.sql", **owner),
        unsettled=db_session.sql("links/checks/select_unsettled_front_conversations.sql"),
    )
    params = {
        "sample_limit": 5,
        "source_schema": "public",
        "window_start": None,
        "window_end": None,
        "only_conversation_ids": None,
        "sample_conversations": SAMPLE_CONVERSATIONS,
        "sample_seed": 1,
        "changed_since": datetime.now(UTC) - timedelta(minutes=5),
    }
    plan = "\n".join(row[0] for row in db.execute(sql.SQL("explain ") + statement, params).fetchall())
    assert "hashed SubPlan" not in plan, plan
