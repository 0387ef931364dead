-- Draws what one insert of Front links builds its ids from, in the UUIDv7 layout: the millisecond now (the database's clock) and one random draw as the ids' fixed part, and the counter the rows' numbers add to.
-- Why the layout: ids that ascend with the rows, and with the statements, grow the primary key at its right
-- edge instead of dirtying a random page of it per row. One random draw per statement rather than
-- gen_random_uuid() per row: a server built without OpenSSL reads the kernel's random source on every call.
with id_draw as (
    select
        floor(extract(epoch from clock_timestamp()) * 1000)::bigint as millisecond,
        replace(gen_random_uuid()::text, '-', '') as random_hex
)

select
    lpad(to_hex(id_draw.millisecond), 12, '0') || '7' || substr(id_draw.random_hex, 1, 3) || '8' as id_prefix,
    ('x' || substr(id_draw.random_hex, 4, 12))::bit(48)::bigint as id_first_counter
from id_draw
