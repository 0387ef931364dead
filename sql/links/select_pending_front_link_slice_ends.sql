-- The last pair (conversation, owner) of each slice of slice_rows missing links of pg_temp.front_link_differences, in key order, but the last slice's: the slices insert_missing_front_links.sql inserts one statement each, the last one left open above.
-- No end falls on the last missing link: slice_rows of them go in by one statement, with no empty one after it.
with numbered as (
    select
        difference.defined_front_conversation_id,
        difference.defined_owner_id,
        row_number() over (order by difference.defined_front_conversation_id, difference.defined_owner_id) as number,
        count(*) over () as missing
    from pg_temp.front_link_differences as difference
    where difference.link_id is null
)

select
    numbered.defined_front_conversation_id,
    numbered.defined_owner_id
from numbered
where mod(numbered.number, %(slice_rows)s) = 0 and numbered.number < numbered.missing
order by numbered.number
