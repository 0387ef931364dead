-- Gathers the statistics of a window's staged defined pairs ({analytics}.{window_staged}), so the insert that numbers them (insert_staged_front_links.sql) is planned for their real number.
analyze {analytics}.{window_staged}
