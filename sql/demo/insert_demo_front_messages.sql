-- Inserts the messages of demo conversations [first, last): 1 to max_messages each (1-15, about 8, by default), a few minutes to hours apart, never after the end.
insert into {source}.front_messages (id, front_conversation_id, created_at, updated_at)
select
    md5(%(salt)s || ':fm:' || plan.conversation_number || ':' || message.i)::uuid as id,
    plan.id as front_conversation_id,
    least(plan.created_at + make_interval(mins => message.i * plan.reply_minutes), %(end)s::timestamptz) as created_at,
    least(plan.created_at + make_interval(mins => message.i * plan.reply_minutes), %(end)s::timestamptz) as updated_at
from pg_temp.demo_conversation_plan as plan
cross join lateral generate_series(0, plan.message_count - 1) as message (i)
where
    plan.conversation_number >= %(first)s
    and plan.conversation_number < %(last)s;
