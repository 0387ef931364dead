-- Plans each demo conversation's participants: mostly people of its home client, some unresolved contact methods, some people of other clients.
create temp table demo_participant_plan on commit drop as
with slots as (
    select
        plan.conversation_number,
        plan.home_client_number,
        slot.s as slot_number,
        hashtextextended(%(salt)s || ':slot:' || plan.conversation_number || ':' || slot.s, 0)
        & 9223372036854775807 as h
    from pg_temp.demo_conversation_plan as plan
    cross join lateral generate_series(0, plan.participant_count - 1) as slot (s)
),

chosen as (
    select
        slots.conversation_number,
        slots.slot_number,
        slots.h,
        case
            when mod(slots.h, 100) < 10 then null
            when mod(slots.h, 100) < 16 then mod(slots.h / 100, %(people)s::bigint)
            else slots.home_client_number * 25 + mod(slots.h / 100, 25)
        end as person_number
    from slots
)

select
    chosen.conversation_number,
    chosen.slot_number,
    case
        when chosen.person_number is null
            then md5(%(salt)s || ':ucm:' || mod(chosen.h / 100, %(unresolved_contact_methods)s::bigint))::uuid
        else
            md5(
                %(salt)s
                || ':cm:'
                || chosen.person_number
                || ':'
                || mod(chosen.h / 10000000, person.contact_method_count)
            )::uuid
    end as contact_method_id
from chosen
left join pg_temp.demo_people_plan as person
    on person.person_number = chosen.person_number;
