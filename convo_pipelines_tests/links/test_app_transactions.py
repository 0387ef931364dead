"""Runs beside a real transaction held open against them: adding a foreign key waits in 50 ms turns while the app's
other writers pass, a person the app deletes under a running insert is left unlinked without failing the run (and
only the slice of links that met the delete is written again), and a run waits for another writer of its table
(table_state/lock.py)."""

from __future__ import annotations

import threading
import time

import dagster as dg
import psycopg

from convo_pipelines.defs.links import link_diff
from convo_pipelines.defs.links.assets import people_front_conversations
from convo_pipelines.defs.links.table_state.lock import LOCK_CLASS
from convo_pipelines_tests.helpers import wait_for_pipeline_lock_wait, wait_until
from convo_pipelines_tests.links.link_runs import (
    FRONT_ASSETS,
    FULL_RANGE,
    PEOPLE,
    SCHEMA,
    jan,
    link_foreign_keys,
    run_assets,
)
from convo_pipelines_tests.source_data import build_source_data, expected_people_links, link_pairs


def test_adding_a_foreign_key_waits_for_app_writers_without_queueing_them(db, database_url, postgres) -> None:
    build_source_data(db)
    instance = dg.DagsterInstance.ephemeral()
    results: list[dg.ExecuteInProcessResult] = []
    with psycopg.connect(database_url) as app_transaction, psycopg.connect(database_url, autocommit=True) as app:
        # An app transaction holds ROW EXCLUSIVE on people and front_conversations: adding a foreign key
        # to either (SHARE ROW EXCLUSIVE) must wait for it, but only in 50 ms turns.
        app_transaction.execute("update people set name = name where id = (select id from people order by id limit 1)")
        app_transaction.execute(
            "update front_conversations set subject = subject where id = (select id from front_conversations order by id limit 1)"
        )
        runner = threading.Thread(
            target=lambda: results.append(
                run_assets(postgres, [people_front_conversations], FULL_RANGE, instance=instance)
            )
        )
        runner.start()
        assert wait_for_pipeline_lock_wait(db, runner, "relation")
        # Meanwhile other app writers of people are never queued behind the pipeline for long: with a
        # lock_timeout of 1 s each would fail if a lock request of the run stood in front of it longer.
        app.execute("set lock_timeout = '1s'")
        for _number in range(10):
            app.execute("update people set name = name where id = (select id from people order by id desc limit 1)")
            app.execute("select count(*) from people")
            time.sleep(0.05)
        assert runner.is_alive() and not results
        app_transaction.commit()
        runner.join(timeout=120)
    assert results and results[0].success
    assert list(link_foreign_keys(db, PEOPLE).values()) == [True, True]
    assert link_pairs(db, SCHEMA, PEOPLE) == expected_people_links(db, SCHEMA)
    messages = _run_log_messages(instance, results[0])
    assert any(
        "adding people_front_conversations_person_id_fkey: attempt" in message and "55P03" in message
        for message in messages
    )


def test_a_person_deleted_while_a_run_inserts_their_link_is_skipped_not_failed(db, database_url, postgres) -> None:
    data = build_source_data(db)
    run_assets(postgres, FRONT_ASSETS, FULL_RANGE)
    # A late change: a person's contact method receives a message of a conversation they were not in.
    person = data.people[5]
    message, _conversation = db.execute(
        "select m.id, m.front_conversation_id from front_messages as m "
        "where m.front_conversation_id not in (select front_conversation_id from people_front_conversations where person_id = %s) "
        "order by m.id limit 1",
        (person,),
    ).fetchone()
    contact_method = next(cm for cm, owner in data.contact_methods.items() if owner == person)
    db.execute(
        "insert into front_message_recipients (front_message_id, contact_method_id) values (%s, %s)",
        (message, contact_method),
    )
    instance = dg.DagsterInstance.ephemeral()
    results: list[dg.ExecuteInProcessResult] = []
    with psycopg.connect(database_url) as app:
        # The app deletes that person in a transaction still open when the run's statement takes its
        # snapshot: the run computes the link, its insert's foreign-key check waits for the delete, and
        # then finds the person gone.
        app.execute("delete from people where id = %s", (person,))
        runner = threading.Thread(
            target=lambda: results.append(
                run_assets(postgres, [people_front_conversations], FULL_RANGE, instance=instance)
            )
        )
        runner.start()
        assert wait_for_pipeline_lock_wait(db, runner, "transactionid")
        app.commit()
        runner.join(timeout=120)
    assert results and results[0].success
    # The insert key-shared the person as its foreign-key check would, found them deleted, and skipped
    # their link: no foreign-key violation, nothing to retry.
    messages = _run_log_messages(instance, results[0])
    assert not any("met a concurrent change" in message for message in messages)
    assert person not in {owner for owner, _ in link_pairs(db, SCHEMA, PEOPLE)}
    assert link_pairs(db, SCHEMA, PEOPLE) == expected_people_links(db, SCHEMA)


def test_a_person_the_app_deletes_while_their_links_are_inserted_is_left_unlinked(db, database_url, postgres) -> None:
    build_source_data(db)
    run_assets(postgres, FRONT_ASSETS, FULL_RANGE)
    # Two people's links go missing (the app re-pointed their contact methods and back, say): the next run inserts them.
    first, second = sorted({owner for owner, _ in link_pairs(db, SCHEMA, PEOPLE)})[:2]
    db.execute(f"delete from {PEOPLE} where person_id = any(%s)", ([first, second],))
    result, waiting = run_people_links_while_the_app_deletes(db, database_url, postgres, first)
    # The insert's foreign-key check waited for the app's delete and failed once it committed: the insert
    # alone is tried again (a savepoint), with a snapshot that no longer sees the person.
    assert waiting.startswith("-- Inserts the missing links a diff found"), waiting
    assert result.success
    linked = {owner for owner, _ in link_pairs(db, SCHEMA, PEOPLE)}
    assert second in linked and first not in linked
    assert link_pairs(db, SCHEMA, PEOPLE) == expected_people_links(db, SCHEMA)


def run_people_links_while_the_app_deletes(
    db: psycopg.Connection, database_url: str, postgres, person
) -> tuple[dg.ExecuteInProcessResult, str]:
    """Run the people links while the app deletes `person` in a transaction still open when the run's diff
    takes its snapshot (so the diff counts the person's links as missing), committed once the run waits on
    it; returns the run's result and the run's statement that waited."""
    results: list[dg.ExecuteInProcessResult] = []
    with psycopg.connect(database_url) as app:
        app.execute("delete from people where id = %s", (person,))
        runner = threading.Thread(
            target=lambda: results.append(run_assets(postgres, [people_front_conversations], FULL_RANGE))
        )
        runner.start()
        waiting = wait_until(lambda: waiting_statement(db, database_url), timeout=60, interval=0.05)
        assert waiting, "the run never waited for the app's delete"
        app.commit()
        runner.join(timeout=120)
    assert results, "the run did not end"
    return results[0], waiting


def waiting_statement(db: psycopg.Connection, database_url: str) -> str | None:
    """The statement of the pipeline's backend that waits for a row lock of another transaction, if any."""
    row = db.execute(
        "select query from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' "
        "and application_name <> 'app_workload' and pid <> pg_backend_pid() and query not like 'delete from people%%'"
    ).fetchone()
    return row[0] if row else None


def test_a_foreign_key_failure_redoes_only_the_slice_that_met_it(db, database_url, postgres, monkeypatch) -> None:
    """Beside an app deleting people all the time, re-inserting a whole batch whenever one of its people was
    deleted meanwhile never converged: the missing links go in by slices, and a failure retries its slice alone."""
    monkeypatch.setattr(link_diff, "PENDING_INSERT_SLICE_ROWS", 5)
    build_source_data(db)
    run_assets(postgres, FRONT_ASSETS, FULL_RANGE)
    pairs = link_pairs(db, SCHEMA, PEOPLE)
    # The person whose links come last in key order: the open last slice, the only one that meets the delete.
    last = max(owner for owner, _ in pairs)
    db.execute(f"delete from {PEOPLE}")
    # The first fill's backends report their rows when they end.
    wait_until(lambda: rows_ever_inserted(database_url, PEOPLE) >= len(pairs), timeout=10)
    written_before = rows_ever_inserted(database_url, PEOPLE)
    result, _ = run_people_links_while_the_app_deletes(db, database_url, postgres, last)
    assert result.success
    assert link_pairs(db, SCHEMA, PEOPLE) == expected_people_links(db, SCHEMA)
    kept = len(link_pairs(db, SCHEMA, PEOPLE))
    assert kept < len(pairs) - 1 and len(pairs) > 20
    # Rows written, including those of the attempt its foreign-key check undid: the links kept, plus at
    # most the one slice that met the delete (a whole-batch insert would have written every link twice).
    wait_until(lambda: rows_ever_inserted(database_url, PEOPLE) - written_before >= kept, timeout=10)
    written = rows_ever_inserted(database_url, PEOPLE) - written_before
    assert kept < written <= kept + 2 * 5, (kept, written)


def rows_ever_inserted(database_url: str, table: str) -> int:
    """The table's n_tup_ins (rows inserted, also by transactions and savepoints rolled back), on a new
    connection so that no cached statistics snapshot is read."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute("select n_tup_ins from pg_stat_user_tables where relname = %s", (table,)).fetchone()[0]


def test_a_run_waits_for_another_writer_of_the_same_table(db, postgres, database_url) -> None:
    build_source_data(db)
    results: list[dg.ExecuteInProcessResult] = []
    with psycopg.connect(database_url) as holder:
        holder.execute("select pg_advisory_xact_lock(%s, hashtext('public.people_front_conversations'))", (LOCK_CLASS,))
        runner = threading.Thread(
            target=lambda: results.append(
                run_assets(postgres, [people_front_conversations], {"dagster/partition": "2024-01-10"})
            )
        )
        runner.start()
        waiting = wait_for_pipeline_lock_wait(db, runner, "advisory")
        assert waiting and not results  # the run is blocked on the table's lock, nothing written yet
        assert link_pairs(db, SCHEMA, PEOPLE) == set()
        holder.rollback()
    runner.join(timeout=120)
    assert results and results[0].success
    assert link_pairs(db, SCHEMA, PEOPLE) == expected_people_links(db, SCHEMA, jan(10), jan(11))


def _run_log_messages(instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult) -> list[str]:
    return [entry.user_message for entry in instance.all_logs(result.run_id)]
