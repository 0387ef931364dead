-- Creates the histories table of every crew of many_crews_plan (but the one whose table is missing), with indexes on
-- session_id and created_at, fills it in time order (sessions of 4 alternating human and ai messages, each crew in
-- its own message shape, spread over the plan's days up to the crew's last message), adds six bad rows (one per reason a row is skipped)
-- to the crews of kind bad_rows, and gathers every table's statistics. Run without parameters: the DO block reads the plan.
do $many_crews$
declare
    crew record;
begin
    for crew in select * from pg_temp.many_crews_plan where kind <> 'missing_table' order by crew_number loop
        execute format(
            'create table %I.%I (id serial primary key, session_id %s%s, message %s%s, created_at timestamptz%s)',
            crew.source_schema, crew.table_name,
            crew.session_id_type, case when crew.kind = 'bad_rows' then '' else ' not null' end,
            crew.message_type, case when crew.kind = 'bad_rows' then '' else ' not null' end,
            case when crew.kind = 'bad_rows' then '' else ' not null default now()' end
        );
        execute format('create index on %I.%I (session_id)', crew.source_schema, crew.table_name);
        execute format('create index on %I.%I (created_at)', crew.source_schema, crew.table_name);
        execute format(
            $insert$
            insert into %I.%I (session_id, message, created_at)
            select
                md5($1 || ':' || (message.position / 4))::uuid,
                case
                    when $2 = 'langchain' then jsonb_build_object(
                        'type', message.kind,
                        'data', jsonb_build_object('content', message.content, 'additional_kwargs', jsonb_build_object(), 'type', message.kind)
                    )
                    else jsonb_build_object(
                        'type', message.kind,
                        'content', message.content,
                        'additional_kwargs', jsonb_build_object(),
                        'response_metadata', jsonb_build_object()
                    )
                end,
                now() - make_interval(hours => $5) - make_interval(secs => $3 * 86400.0 * (1 - message.position::float8 / $4))
            from (
                select
                    position,
                    case when mod(position, 2) = 1 then 'human' else 'ai' end as kind,
                    case when mod(position, 2) = 1 then 'Hi, I need help with my order' else 'Sure, let me look that up.' end as content
                from generate_series(1, $4) as position
            ) as message
            order by message.position
            $insert$,
            crew.source_schema, crew.table_name
        ) using crew.code, crew.shape, crew.days, crew.messages, crew.ends_hours_ago;
        if crew.kind = 'bad_rows' then
            execute format(
                $bad$
                insert into %I.%I (session_id, message, created_at) values
                    (null, '{{"type": "human", "content": "no session"}}', now() - interval '1 hour'),
                    (md5($1 || ':bad')::uuid, 'not json at all', now() - interval '1 hour'),
                    (md5($1 || ':bad')::uuid, null, now() - interval '1 hour'),
                    (md5($1 || ':bad')::uuid, '{{"type": "human", "content": "no day"}}', null),
                    (md5($1 || ':bad')::uuid, '{{"type": "human", "content": "far future"}}', '9999-01-01'),
                    (md5($1 || ':bad')::uuid, '{{"type": "human", "content": "a\u0000b"}}', now() - interval '1 hour')
                $bad$,
                crew.source_schema, crew.table_name
            ) using crew.code;
        end if;
        execute format('analyze %I.%I', crew.source_schema, crew.table_name);
    end loop;
end
$many_crews$
