-- The band of a first fill's staged pair: which of `bands` equal ranges of its conversation id's leading byte holds it; bound into stage_front_link_first_fill.sql's numbering, ahead of the owner.
get_byte(uuid_send(pairs.front_conversation_id), 0) * %(bands)s / 256,
