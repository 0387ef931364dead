"""Column schemas and lineage of the analytics tables, as the UI shows them."""

import dagster as dg

from convo_pipelines.defs.histories.tables import HISTORIES_SESSIONS


def _columns(*columns: tuple[str, str, str, bool]) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name, type_, description, dg.TableColumnConstraints(nullable=not required))
            for name, type_, description, required in columns
        ]
    )


HISTORIES_SESSIONS_SCHEMA = _columns(
    ("crew_code", "text", "Crew whose histories table holds the session (crews.code).", True),
    ("session_id", "text", "Chat session id, as text.", True),
    ("activity_date", "date", "UTC day of the messages counted in the row.", True),
    ("client_code", "text", "Client of the crew (clients.code).", False),
    ("message_count", "integer", "All messages that day, malformed included.", True),
    ("human_message_count", "integer", "Messages of type human that day.", True),
    ("ai_message_count", "integer", "Messages of type ai that day.", True),
    ("malformed_message_count", "integer", "Messages not a JSON object or without a known type.", True),
    ("first_message_at", "timestamptz", "First message of the session that day.", True),
    ("last_message_at", "timestamptz", "Last message of the session that day.", True),
    ("updated_at", "timestamptz", "When the row last changed.", True),
)
CONVERSATION_SUMMARIES_SCHEMA = _columns(
    ("crew_code", "text", "Crew whose histories table holds the session (crews.code).", True),
    ("session_id", "text", "Chat session id, as text.", True),
    ("client_code", "text", "Client of the crew (clients.code).", False),
    ("message_count", "integer", "All messages of the session, malformed included.", True),
    ("human_message_count", "integer", "Messages of type human.", True),
    ("ai_message_count", "integer", "Messages of type ai.", True),
    ("started_at", "timestamptz", "First message of the session.", True),
    ("ended_at", "timestamptz", "Last message of the session.", True),
    ("duration_seconds", "numeric", "ended_at - started_at in seconds.", True),
    ("active_days", "integer", "Distinct UTC days with a message.", True),
    ("first_human_message", "text", "First 200 characters of the earliest non-empty human message.", False),
    ("updated_at", "timestamptz", "When the row last changed.", True),
)
DAILY_CONVERSATION_STATS_SCHEMA = _columns(
    ("activity_date", "date", "UTC day.", True),
    ("client_code", "text", "Client of the crew (clients.code).", False),
    ("crew_code", "text", "Crew (crews.code).", True),
    ("sessions", "bigint", "Sessions with a message that day.", True),
    ("messages", "bigint", "All messages that day, malformed included.", True),
    ("human_messages", "bigint", "Messages of type human that day.", True),
    ("ai_messages", "bigint", "Messages of type ai that day.", True),
)


# A view over histories_sessions (migration 0002): each column is one of its columns, grouped, counted or summed.
DAILY_CONVERSATION_STATS_LINEAGE = dg.TableColumnLineage(
    deps_by_column={
        column: [dg.TableColumnDep(asset_key=dg.AssetKey(HISTORIES_SESSIONS), column_name=source)]
        for column, source in {
            "activity_date": "activity_date",
            "client_code": "client_code",
            "crew_code": "crew_code",
            "sessions": "session_id",
            "messages": "message_count",
            "human_messages": "human_message_count",
            "ai_messages": "ai_message_count",
        }.items()
    }
)
