-- Keys and statistics for the demo plans, so each chunk of messages finds its conversations and participants by key.
alter table pg_temp.demo_people_plan add primary key (person_number);
alter table pg_temp.demo_conversation_plan add primary key (conversation_number);
alter table pg_temp.demo_participant_plan add primary key (conversation_number, slot_number);
analyze pg_temp.demo_people_plan;
analyze pg_temp.demo_conversation_plan;
analyze pg_temp.demo_participant_plan;
