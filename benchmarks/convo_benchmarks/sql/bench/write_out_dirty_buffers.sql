-- Writes every dirty buffer out (a checkpoint) before a timed measurement, so that no measurement pays for the writes of the one before it (the seed leaves gigabytes for the first fill, a fill for the re-run after it).
-- CHECKPOINT is beyond sqlfluff's grammar.
checkpoint -- noqa: PRS
