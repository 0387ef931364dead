-- Gives this bulk-load transaction enough memory for its hash joins, index builds and foreign-key validations, and parallel index builds.
set local maintenance_work_mem = '512MB';
set local max_parallel_maintenance_workers = 2;
set local work_mem = '256MB'
