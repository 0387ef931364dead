-- Sets one server setting from the embedded server's next start (or reload), for a bench run that asks for it (`bench --server-setting`; only on a server the bench started). ALTER SYSTEM takes no parameters: the value is bound client-side as a literal.
alter system set {name} = {value}
