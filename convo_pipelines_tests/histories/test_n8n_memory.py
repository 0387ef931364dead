"""Sessions written by n8n's own chat memory writer reach histories_sessions and conversation_summaries with the
client's own counts: LangChain JS's PostgresChatMessageHistory (npm @langchain/community, @langchain/core and pg at the
versions @n8n/n8n-nodes-langchain 2.41 pins, installed by `npm ci` in convo_pipelines_tests/n8n) on the machine's Node,
writing to the table it creates itself, which the project reads as it is."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import date
from pathlib import Path

import dagster as dg
import psycopg
from psycopg.conninfo import conninfo_to_dict

from convo_pipelines.defs.histories.assets import histories_assets
from convo_pipelines.defs.histories.schedules import discovery_tick_run_config
from convo_pipelines.lib.postgres.urls import psycopg_url
from convo_pipelines_tests.helpers import utc_day_ahead
from convo_pipelines_tests.histories_data import create_client, create_crew
from convo_pipelines_tests.npm import ensure_npm_installed

N8N_FOLDER = Path(__file__).resolve().parents[1] / "n8n"
TABLE = "n8n_chat_histories"


def write_sessions(database_url: str, sessions: dict[str, list[tuple[str, str]]]) -> dict[str, dict[str, int]]:
    """Write the sessions' turns through the real client; returns its own counts of each session's messages."""
    ensure_npm_installed(N8N_FOLDER, "@langchain/community")
    node = shutil.which("node")
    assert node is not None, "node is not on PATH (Debian: `apt-get install nodejs`)"
    parts = conninfo_to_dict(psycopg_url(database_url))
    pool = {
        "host": parts.get("host"),
        "port": int(parts.get("port") or 5432),
        "user": parts.get("user"),
        "password": parts.get("password") or "",
        "database": parts.get("dbname"),
    }
    written = subprocess.run(
        [node, "write_sessions.mjs", json.dumps(pool), json.dumps(sessions)],
        cwd=N8N_FOLDER,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert written.returncode == 0, written.stderr[-3000:]
    return json.loads(written.stdout)


def discover(postgres, day: date, tick: bool = False) -> None:
    """A discovery run of `day`, the UTC day the run falls on: it dates the table's new messages (they have no time)."""
    result = dg.materialize(
        histories_assets,
        resources={"postgres": postgres},
        partition_key=day.isoformat(),
        run_config=discovery_tick_run_config() if tick else None,
    )
    assert result.success


def stored_counts(db: psycopg.Connection, crew: str) -> tuple[dict, dict]:
    """Per session, (messages, human, ai) as histories_sessions (summed over days) and conversation_summaries hold them."""
    sessions = db.execute(
        "select session_id, sum(message_count)::int, sum(human_message_count)::int, sum(ai_message_count)::int "
        "from analytics.histories_sessions where crew_code = %s group by session_id",
        (crew,),
    ).fetchall()
    summaries = db.execute(
        "select session_id, message_count, human_message_count, ai_message_count "
        "from analytics.conversation_summaries where crew_code = %s",
        (crew,),
    ).fetchall()
    return {row[0]: row[1:] for row in sessions}, {row[0]: row[1:] for row in summaries}


def client_counts(counts: dict[str, dict[str, int]]) -> dict[str, tuple[int, int, int]]:
    return {session: (count["messages"], count["human"], count["ai"]) for session, count in counts.items()}


def test_sessions_written_by_n8n_chat_memory_are_discovered_with_the_clients_counts(db, database_url, postgres) -> None:
    first = write_sessions(
        database_url,
        {
            "workflow-1:chat-a": [("human", "What is my order status?"), ("ai", "It shipped."), ("human", "Thanks")],
            "workflow-1:chat-b": [("human", "Hello"), ("ai", "Hi! How can I help?")],
        },
    )
    # The class made its own table: no created_at, nothing but its key indexed.
    columns = [
        row[0]
        for row in db.execute(
            "select attname::text from pg_attribute where attrelid = 'public.n8n_chat_histories'::regclass "
            "and attnum > 0 and not attisdropped order by attnum"
        )
    ]
    assert columns == ["id", "session_id", "message"]
    create_client(db, "acme")
    create_crew(db, "acme_n8n", "acme", TABLE)
    day = utc_day_ahead(db)  # both runs fall on it
    discover(postgres, day)
    sessions, summaries = stored_counts(db, "acme_n8n")
    assert sessions == summaries == client_counts(first)
    assert db.execute(
        "select first_human_message from analytics.conversation_summaries where session_id = 'workflow-1:chat-a'"
    ).fetchone() == ("What is my order status?",)

    # The conversation goes on and a new one starts: a tick (only new messages) brings both to the client's counts.
    later = write_sessions(
        database_url,
        {
            "workflow-1:chat-a": [("ai", "You're welcome.")],
            "workflow-2:chat-c": [("human", "Cancel my plan"), ("ai", "Done."), ("human", "Bye"), ("ai", "Bye!")],
        },
    )
    discover(postgres, day, tick=True)
    sessions, summaries = stored_counts(db, "acme_n8n")
    assert sessions == summaries == {**client_counts(first), **client_counts(later)}
    assert columns == [
        row[0]
        for row in db.execute(
            "select attname::text from pg_attribute where attrelid = 'public.n8n_chat_histories'::regclass "
            "and attnum > 0 and not attisdropped order by attnum"
        )
    ]
