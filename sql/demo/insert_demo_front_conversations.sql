-- Inserts the demo Front conversations from the conversation plan.
insert into {source}.front_conversations (id, subject, created_at, updated_at)
select
    plan.id,
    (array[
        'Quote request', 'Delivery delay', 'Invoice question', 'Onboarding call', 'Contract renewal',
        'Damaged item', 'Account access', 'Feature request', 'Price change', 'Meeting follow-up'
    ])[1 + mod(plan.conversation_number, 10)]
    || ' #' || (plan.conversation_number + 1) as subject,
    plan.created_at,
    plan.created_at as updated_at
from pg_temp.demo_conversation_plan as plan;
