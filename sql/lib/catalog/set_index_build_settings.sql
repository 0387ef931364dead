-- Gives the rest of this transaction's index builds and foreign-key validations (which run with maintenance_work_mem) enough memory, and parallel index builds.
set local maintenance_work_mem = '512MB';
set local max_parallel_maintenance_workers = 2
