-- Plans the demo Front conversations: when each starts, its home client, how many participants and messages it has.
create temp table demo_conversation_plan on commit drop as
with numbered as (
    select
        gs.n as conversation_number,
        hashtextextended(%(salt)s || ':fc:' || gs.n, 0) & 9223372036854775807 as h,
        hashtextextended(%(salt)s || ':fc-at:' || gs.n, 0) & 9223372036854775807 as h_at
    from generate_series(0, %(conversations)s::bigint - 1) as gs (n)
)

select
    numbered.conversation_number,
    md5(%(salt)s || ':fc:' || numbered.conversation_number)::uuid as id,
    %(end)s::timestamptz - make_interval(secs => 1 + mod(numbered.h_at, %(days)s::bigint * 86400)) as created_at,
    mod(numbered.h, %(clients)s::bigint) as home_client_number,
    3 + mod(numbered.h / 1000, 4)::int as participant_count,
    1 + mod(numbered.h / 10000, %(max_messages)s::bigint)::int as message_count,
    5 + mod(numbered.h / 1000000, 175)::int as reply_minutes
from numbered;
