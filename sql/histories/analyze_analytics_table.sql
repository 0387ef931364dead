-- Gathers an analytics table's planner statistics after a run wrote a large share of it (SHARE UPDATE EXCLUSIVE: analysts' reads go on).
analyze {analytics}.{relation}
