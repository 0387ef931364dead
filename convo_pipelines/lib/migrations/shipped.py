"""The migrations this package ships, and what a database recorded of them.

Files are sql/migrations/NNNN_name.up.sql with a matching NNNN_name.down.sql. A migration may also ship
NNNN_name.up.concurrent.sql (and .down.concurrent.sql): indexes built concurrently beside the app before its
transaction (lib/writing/concurrent_indexes.py), and NNNN_name.up.adopt.sql: the tables the application may have
made itself that it adopts (lib/migrations/records.py).

The record table keeps the sha256 of the .up.sql text each migration was applied from, so an applied migration whose
file was edited afterwards (its edit never reaches databases that already applied it) is named instead of silently
diverging.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from convo_pipelines.lib.postgres.sqlfiles import list_sql, read_sql
from convo_pipelines.lib.writing.concurrent_indexes import ConcurrentIndex, concurrent_indexes

# Other texts of a shipped migration that leave the same schema, by version: a database that applied one is
# current.
# - 0007's other text gives histories_sessions.updated_at a volatile default in its ADD COLUMN, a table rewrite
#   that logical replication never sends, so a subscriber applying the same DDL keeps other stamps; the shipped
#   text writes them with an UPDATE, which replicates.
# - The other texts of 0001, 0003, 0005 and 0008 do not adopt the application's own Front link tables; where
#   none exists, they do exactly what the shipped ones do.
# - One of 0005's differs from the shipped text in a comment only.
EQUIVALENT_EARLIER_CHECKSUMS: dict[int, tuple[str, ...]] = {
    1: ("d91a788acdb20ef0fce362351c98593851f615bd2395e7b573c5de02263c4af2",),
    3: ("c849c8c0ca62fe95db2cc2a206bcb154e8f8350a10aa2615dd292e32944ca7a4",),
    5: (
        "712801fc6580d341032ba5d9c80b6d01e745f57a33285567a6de1448bb968219",
        "caf7120b9b5796eb22eb9eb9b64c942d8570f3eac06006eac850cc7175e20743",
    ),
    7: ("2f258fbf01f721366e36d04e1f55f76e12a662e34dad57a4d3802ab14d712ec9",),
    8: ("7d5fe865991873505f2cec6604acf0a108aad94c63c08b47b80dc5d47b68d351",),
}
MIGRATION_FILE = re.compile(
    r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.(?P<direction>up|down)(?P<extra>\.concurrent|\.adopt)?\.sql$"
)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str

    def file(self, direction: str) -> str:
        return f"migrations/{self.version:04d}_{self.name}.{direction}.sql"

    def concurrent_builds(self, direction: str) -> list[ConcurrentIndex]:
        """The indexes its .concurrent.sql file of `direction` builds before its transaction (none without one)."""
        name = f"{self.version:04d}_{self.name}.{direction}.concurrent.sql"
        if name not in list_sql("migrations"):
            return []
        return concurrent_indexes(read_sql(f"migrations/{name}"), f"sql/migrations/{name}")

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"

    def checksum(self) -> str:
        """sha256 of the .up.sql text this code ships, after the statements of its .up.concurrent.sql if any."""
        concurrent = "".join(build.statement + ";\n" for build in self.concurrent_builds("up"))
        return hashlib.sha256((concurrent + read_sql(self.file("up"))).encode("utf-8")).hexdigest()

    def accepted_checksums(self) -> set[str]:
        """The shipped text's checksum and those of earlier texts that left the same schema."""
        return {self.checksum(), *EQUIVALENT_EARLIER_CHECKSUMS.get(self.version, ())}


@dataclass(frozen=True)
class AppliedMigration:
    """A row of the record table; `checksum` is None for rows recorded before checksums existed."""

    version: int
    name: str
    checksum: str | None

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


@dataclass(frozen=True)
class SchemaState:
    """What the code ships against what the database recorded as applied."""

    shipped: tuple[Migration, ...]
    applied: tuple[AppliedMigration, ...]

    @property
    def pending(self) -> list[Migration]:
        done = {row.version for row in self.applied}
        return [migration for migration in self.shipped if migration.version not in done]

    @property
    def not_shipped(self) -> list[AppliedMigration]:
        """Applied migrations this code does not know: the schema is ahead of the code."""
        known = {migration.version for migration in self.shipped}
        return [row for row in self.applied if row.version not in known]

    @property
    def changed(self) -> list[Migration]:
        """Applied migrations whose file differs from the one they were applied from (or from an earlier text
        of it that leaves the same schema: EQUIVALENT_EARLIER_CHECKSUMS)."""
        recorded = {row.version: row.checksum for row in self.applied if row.checksum is not None}
        return [m for m in self.shipped if m.version in recorded and recorded[m.version] not in m.accepted_checksums()]

    @property
    def without_checksum(self) -> list[AppliedMigration]:
        """Applied before checksums were recorded; the next migrate adopts the current file's."""
        return [row for row in self.applied if row.checksum is None]


def available_migrations() -> list[Migration]:
    """Every migration shipped with the package, in version order; each must have both files."""
    found: dict[tuple[int, str], set[str]] = {}
    for filename in list_sql("migrations"):
        match = MIGRATION_FILE.match(filename)
        if not match:
            raise RuntimeError(f"sql/migrations/{filename} is not named NNNN_name.up.sql or NNNN_name.down.sql")
        key = (int(match["version"]), match["name"])
        found.setdefault(key, set()).add(match["direction"] + (match["extra"] or ""))
    for (version, name), directions in found.items():
        if not {"up", "down"} <= directions:
            raise RuntimeError(f"migration {version:04d}_{name} needs both an .up.sql and a .down.sql file")
    return [Migration(version, name) for version, name in sorted(found)]
