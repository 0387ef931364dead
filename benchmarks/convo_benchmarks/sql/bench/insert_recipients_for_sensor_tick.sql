-- Late changes for the sensor tick's benchmark: `changes` new recipients, on messages drawn at random (so mostly of different conversations, across the days), each reaching a resolved contact method (taken in turn).
with drawn as (
    select message.id
    from {source}.front_messages as message
    order by random()
    limit %(changes)s
),

messages as (
    select
        drawn.id,
        row_number() over () - 1 as number
    from drawn
),

contact_methods as (
    select
        contact_method.id,
        row_number() over (order by contact_method.id) - 1 as number
    from {source}.contact_methods as contact_method
    where contact_method.person_id is not null
),

method_count as (
    select count(*) as methods from contact_methods
)

insert into {source}.front_message_recipients (front_message_id, contact_method_id, role)
select
    messages.id as front_message_id,
    contact_methods.id as contact_method_id,
    'cc' as role
from messages
cross join method_count
inner join contact_methods
    on contact_methods.number = mod(messages.number, method_count.methods)
