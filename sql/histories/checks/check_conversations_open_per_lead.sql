-- Finds leads with more than one open conversation (closed_at is null), among leads with an open conversation created in the window.
with scoped_leads as (
    select distinct c.lead_id
    from {source}.conversations as c
    where c.lead_id is not null
      and c.closed_at is null
      and c.created_at >= %(window_start)s
      and c.created_at < %(window_end)s
),

offending_leads as (
    select
        c.lead_id,
        count(*) as open_conversations,
        array_agg(c.id order by c.created_at, c.id) as conversation_ids
    from {source}.conversations as c
    join scoped_leads as sl
        on sl.lead_id = c.lead_id
    where c.closed_at is null
    group by c.lead_id
    having count(*) > 1
)

select
    'leads_with_several_open_conversations' as problem,
    (select count(*) from offending_leads) as violations,
    (
        select coalesce(jsonb_agg(to_jsonb(s) order by s.lead_id), '[]'::jsonb)
        from (select * from offending_leads order by 1 limit %(sample_limit)s) as s
    ) as samples;
