-- Gathers the statistics of a window's staged defined pairs ({analytics}.{window_staged}), so the diff's full join with the stored links is planned for their real number, in parallel.
analyze {analytics}.{window_staged}
