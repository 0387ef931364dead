-- Takes one server setting back to the server's configuration file from its next start, once the bench run that set it (set_server_setting.sql) is done.
alter system reset {name}
