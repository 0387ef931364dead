-- Finds leads with more than one open conversation (closed_at is null), among leads with an open conversation created in the window.
with scoped_leads as (
    select distinct conversation.lead_id
    from {source}.conversations as conversation
    where
        conversation.lead_id is not null
        and conversation.closed_at is null
        and conversation.created_at >= %(window_start)s
        and conversation.created_at < %(window_end)s
),

offending_leads as (
    select
        conversation.lead_id,
        count(*) as open_conversations,
        array_agg(conversation.id order by conversation.created_at, conversation.id) as conversation_ids
    from {source}.conversations as conversation
    inner join scoped_leads as scoped_lead
        on scoped_lead.lead_id = conversation.lead_id
    where conversation.closed_at is null
    group by conversation.lead_id
    having count(*) > 1
)

select
    'leads_with_several_open_conversations' as problem,
    (select count(*) from offending_leads) as violations,
    (
        select coalesce(jsonb_agg(to_jsonb(sample) order by sample.lead_id), '[]'::jsonb)
        from (select * from offending_leads order by 1 limit %(sample_limit)s) as sample
    ) as samples;
