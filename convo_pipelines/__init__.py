"""convo_pipelines: Dagster assets that keep conversation link tables and chat-history analytics exact in PostgreSQL."""
