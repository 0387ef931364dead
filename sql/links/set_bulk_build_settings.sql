-- Gives a never-filled link table's fill (one insert) enough memory for its hash joins, for the rest of this transaction.
set local work_mem = '256MB'
