-- Empties the two analytics tables the histories assets write, so the next run is a first full backfill again.
truncate {analytics}.histories_sessions, {analytics}.conversation_summaries
