-- Inserts the demo app conversations: most in a project (user = the project's owner), leads with about two
-- conversations each (a few with both open), most closed.
with numbered as (
    select
        gs.n as conversation_number,
        hashtextextended(%(salt)s || ':conversation:' || gs.n, 0) & 9223372036854775807 as h,
        hashtextextended(%(salt)s || ':lead:' || gs.n / 2, 0) & 9223372036854775807 as h_lead
    from generate_series(0, %(conversations)s::bigint - 1) as gs (n)
),

shaped as (
    select
        numbered.conversation_number,
        case
            when mod(numbered.h, 100) < 85
                then md5(%(salt)s || ':project:' || mod(numbered.h / 100, %(projects)s::bigint))::uuid
        end as project_id,
        case
            when mod(numbered.h_lead, 100) >= 10
                then md5(%(salt)s || ':lead:' || numbered.conversation_number / 2)::uuid
        end as lead_id,
        -- A lead's first conversation is closed unless the lead is one of the few (3 in 100) with two open ones;
        -- its second is closed two times in five.
        case
            when mod(numbered.conversation_number, 2) = 0 then mod(numbered.h_lead / 100, 100) >= 3
            else mod(numbered.h / 100000, 100) < 40
        end as is_closed,
        %(end)s::timestamptz - make_interval(secs => 1 + mod(numbered.h / 10, %(days)s::bigint * 86400)) as created_at,
        mod(numbered.h / 1000, %(users)s::bigint) as fallback_user_number
    from numbered
)

insert into {source}.conversations (id, user_id, project_id, lead_id, closed_at, created_at, updated_at)
select
    md5(%(salt)s || ':conversation:' || shaped.conversation_number)::uuid as id,
    coalesce(project.user_id, md5(%(salt)s || ':user:' || shaped.fallback_user_number)::uuid) as user_id,
    shaped.project_id,
    shaped.lead_id,
    case
        when shaped.is_closed
            then
                least(
                    shaped.created_at + make_interval(hours => 1 + mod(shaped.conversation_number, 72)::int),
                    %(end)s::timestamptz
                )
    end as closed_at,
    shaped.created_at,
    shaped.created_at as updated_at
from shaped
left join {source}.projects as project
    on project.id = shaped.project_id;
