"""The analytics tables of the histories, named once (in ANALYTICS_SCHEMA); each is also its asset's name.

Imports neither Dagster nor a database driver, so the CLI can name them without loading the definitions.
Their columns and exact definitions are in docs/contract.md.
"""

HISTORIES_SESSIONS = "histories_sessions"
CONVERSATION_SUMMARIES = "conversation_summaries"
# A view over histories_sessions (migration 0002).
DAILY_CONVERSATION_STATS = "daily_conversation_stats"
ANALYTICS_TABLES = (HISTORIES_SESSIONS, CONVERSATION_SUMMARIES, DAILY_CONVERSATION_STATS)
