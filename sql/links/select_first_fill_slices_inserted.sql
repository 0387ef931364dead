-- How many of a killed first fill's staged pairs ({analytics}.{first_fill}) its committed slices inserted into {source}.{links}, or no row when the table does not hold exactly the first ones: the run after it then goes on with the next slice.
-- While the staged pairs exist, the table holds only the fill's slices (every other writer drops them first),
-- and each slice commits whole, in position order: its links are positions 1 to their count. That the last of
-- them ends a staged conversation, the table's last, makes sure of it. The count reads the table once, a
-- cost a resumption pays once; its last conversation is one probe of the unique pair, led by the conversation.
with inserted as (
    select
        (
            select count(*)
            from {source}.{links}
        ) as links,
        (
            select link.front_conversation_id
            from {source}.{links} as link
            order by link.front_conversation_id desc
            limit 1
        ) as last_conversation
)

select inserted.links
from inserted
where exists (
    select 1
    from {analytics}.{first_fill} as staged
    where
        staged.position = inserted.links
        and staged.conversation_end = inserted.links
        and staged.front_conversation_id = inserted.last_conversation
)
