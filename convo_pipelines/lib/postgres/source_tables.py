"""The application's tables the link tables are computed from: they must exist before anything migrates.

The application owns them (docs/contract.md, section 1). The histories part reads `crews` as well, and the
tables each crew names.
"""

# In foreign-key order: a table comes after those it references.
SOURCE_TABLES = (
    "clients",
    "people",
    "contact_methods",
    "front_conversations",
    "front_messages",
    "front_message_recipients",
    "users",
    "projects",
    "conversations",
)
