-- The database's clock: what the sensor's interval bounds are compared with.
select now()
