-- Gives this bulk-load transaction's insert enough memory for its hash joins (the index builds and foreign-key validations get theirs from catalog/set_index_build_settings.sql).
set local work_mem = '256MB'
