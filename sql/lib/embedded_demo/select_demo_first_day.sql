-- The UTC day of the demo's oldest Front conversation: the first daily partition `convo-pipelines dev` gives the embedded demo.
select (min(created_at)::timestamptz at time zone 'UTC')::date as first_day
from {source}.front_conversations;
