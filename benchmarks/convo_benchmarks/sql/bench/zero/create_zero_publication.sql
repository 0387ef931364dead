-- The publication zero-cache replicates through: the app's tables and the three link tables the Zero schema names.
create publication {publication} for table
{source}.clients,
{source}.people,
{source}.contact_methods,
{source}.front_conversations,
{source}.projects,
{source}.conversations,
{source}.people_front_conversations,
{source}.clients_front_conversations,
{source}.project_conversations;
