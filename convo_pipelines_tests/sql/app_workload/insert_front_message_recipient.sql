-- The app adds one recipient (a contact method) to one Front message.
insert into {source}.front_message_recipients (front_message_id, contact_method_id, role)
values (%(front_message_id)s, %(contact_method_id)s, 'cc')
