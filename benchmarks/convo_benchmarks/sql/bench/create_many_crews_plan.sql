-- Plans crews number %(first)s to %(last)s of the many-crews benchmark as a temporary table dropped at commit: each crew's
-- code, histories table, kind and size. By number: one crew in 200 is large (rows on every day up to now), one in 100 has
-- bad rows (nullable columns, a text message), two in five are empty, crew %(missing_table_crew)s names a table that does
-- not exist, the others are small (1 to 10 messages over the days, the last one up to that many days ago). Session ids rotate through uuid, text and varchar.
create temporary table many_crews_plan on commit drop as
with numbered as (
    select crew.crew_number
    from generate_series(%(first)s::integer, %(last)s::integer) as crew (crew_number)
),

kinds as (
    select
        numbered.crew_number,
        case
            when numbered.crew_number = %(missing_table_crew)s then 'missing_table'
            when mod(numbered.crew_number, 200) = 7 then 'large'
            when mod(numbered.crew_number, 100) = 13 then 'bad_rows'
            when mod(numbered.crew_number, 5) in (0, 1) then 'empty'
            else 'small'
        end as kind
    from numbered
)

select
    kinds.crew_number,
    kinds.kind,
    %(prefix)s || lpad(kinds.crew_number::text, 4, '0') as code,
    %(prefix)s || lpad(kinds.crew_number::text, 4, '0') || '_histories' as table_name,
    %(source_schema)s::text as source_schema,
    (array['uuid', 'text', 'varchar(255)'])[1 + mod(kinds.crew_number, 3)] as session_id_type,
    case when kinds.kind = 'bad_rows' then 'text' else 'jsonb' end as message_type,
    case when mod(kinds.crew_number, 2) = 0 then 'langchain' else 'n8n' end as shape,
    case kinds.kind
        when 'large' then %(large_messages)s::integer
        when 'small' then 1 + mod(kinds.crew_number * 7, 10)
        when 'bad_rows' then 20
        else 0
    end as messages,
    -- How long before now each crew's last message was: only some small crews have rows today, as in a quiet hour.
    case kinds.kind
        when 'small' then mod(kinds.crew_number * 37, %(days)s::integer * 24)
        when 'bad_rows' then 2
        else 0
    end as ends_hours_ago,
    %(days)s::integer as days
from kinds
