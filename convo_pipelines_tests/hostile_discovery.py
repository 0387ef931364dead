"""The hostile inputs' two Dagster runs, in a process of their own: one full discovery with the checks
over every partition, then one discovery tick over today's.

Run in a child process whose PARTITIONS_START_DATE is two days before today, so that "every partition"
is three of them whatever the date: the first one owns everything dated before it (the cases' 1900 and
2024 rows included), exactly as it owns the years before 2024 in production. With the tests' own start
date (2024-01-01) the full run would cover a partition per day since then, and Dagster records a
materialization for each: a test whose cost grows with the calendar.

The child writes what the tests read (each run's success, its materializations' metadata, its checks'
results, and the source's fingerprint after each run) as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import psycopg
from psycopg import sql

from convo_pipelines.lib.postgres.db import connect

DAYS_BEFORE_TODAY = 2
# The schemas whose relations and catalog are fingerprinted: the cases create relations in both.
SOURCE_SCHEMAS = ("public", "elsewhere")


@dataclass(frozen=True)
class CheckOutcome:
    passed: bool
    metadata: dict[str, object]


@dataclass(frozen=True)
class RunOutcome:
    success: bool
    materializations: dict[str, dict[str, object]]  # asset -> the metadata of its first materialization
    checks: dict[str, CheckOutcome]  # "asset.check" -> its evaluation

    @classmethod
    def of(cls, result) -> RunOutcome:  # a dagster ExecuteInProcessResult
        materializations: dict[str, dict[str, object]] = {}
        for event in result.get_asset_materialization_events():
            materializations.setdefault(event.asset_key.to_user_string(), _plain(event.materialization.metadata))
        checks = {
            f"{e.asset_key.to_user_string()}.{e.check_name}": CheckOutcome(e.passed, _plain(e.metadata))
            for e in result.get_asset_check_evaluations()
        }
        return cls(result.success, materializations, checks)

    @classmethod
    def from_json(cls, data: dict) -> RunOutcome:
        return cls(
            data["success"],
            data["materializations"],
            {key: CheckOutcome(**value) for key, value in data["checks"].items()},
        )


def _plain(metadata: dict) -> dict[str, object]:
    """Metadata values as JSON: a table as its rows' dicts."""
    import dagster as dg

    return {
        key: [record.data for record in value.records] if isinstance(value, dg.TableMetadataValue) else value.value
        for key, value in metadata.items()
    }


@dataclass(frozen=True)
class DiscoveryRuns:
    full: RunOutcome
    tick: RunOutcome
    after_full: dict[str, str]
    after_tick: dict[str, str]


def run_full_discovery_then_tick(url: str, today: date, workdir: Path) -> DiscoveryRuns:
    """Both runs against the database at `url`, in a child process (see the module's docstring)."""
    out = workdir / "runs.json"
    environment = {**os.environ, "PARTITIONS_START_DATE": (today - timedelta(days=DAYS_BEFORE_TODAY)).isoformat()}
    subprocess.run(
        [sys.executable, "-m", __name__, url, today.isoformat(), str(out)], env=environment, check=True, timeout=600
    )
    data = json.loads(out.read_text())
    return DiscoveryRuns(
        RunOutcome.from_json(data["full"]), RunOutcome.from_json(data["tick"]), data["after_full"], data["after_tick"]
    )


def _run_in_this_process(url: str, today: date, out: Path) -> None:
    # Imported here: the definitions read PARTITIONS_START_DATE when they are built.
    import dagster as dg

    from convo_pipelines.defs.histories.assets import histories_assets
    from convo_pipelines.defs.histories.checks import histories_checks
    from convo_pipelines.defs.histories.schedules import discovery_tick_run_config
    from convo_pipelines.defs.partitions import first_partition_start
    from convo_pipelines.defs.resources import PostgresResource

    postgres = PostgresResource(database_url=url, source_schema="public", analytics_schema="analytics")
    everything = [*histories_assets, *histories_checks]
    first = first_partition_start().date().isoformat()
    with connect(url, autocommit=True) as db:
        full = dg.materialize(
            everything,
            resources={"postgres": postgres},
            tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": today.isoformat()},
            raise_on_error=False,
        )
        after_full = source_fingerprint(db)
        tick = dg.materialize(
            everything,
            resources={"postgres": postgres},
            tags={
                "dagster/asset_partition_range_start": today.isoformat(),
                "dagster/asset_partition_range_end": today.isoformat(),
            },
            run_config=discovery_tick_run_config(),
            raise_on_error=False,
        )
        after_tick = source_fingerprint(db)
    outcomes = {"full": RunOutcome.of(full), "tick": RunOutcome.of(tick)}
    document = {
        name: {
            "success": o.success,
            "materializations": o.materializations,
            "checks": {k: vars(c) for k, c in o.checks.items()},
        }
        for name, o in outcomes.items()
    }
    out.write_text(json.dumps({**document, "after_full": after_full, "after_tick": after_tick}))


def source_fingerprint(db: psycopg.Connection) -> dict[str, str]:
    """md5 of every source relation's rows (tables, views, populated materialized views) and of the
    source schemas' catalog (relations, columns, constraints, indexes)."""
    relations = db.execute(
        """
        select n.nspname, c.relname
        from pg_class as c
        join pg_namespace as n on n.oid = c.relnamespace
        where n.nspname = any(%s) and (c.relkind in ('r', 'p', 'v') or (c.relkind = 'm' and c.relispopulated))
        """,
        (list(SOURCE_SCHEMAS),),
    ).fetchall()
    hashes = {
        f"{schema}.{name}": db.execute(
            sql.SQL("select md5(coalesce(string_agg(t::text, E'\\n' order by t::text), '')) from {} as t").format(
                sql.Identifier(schema, name)
            )
        ).fetchone()[0]
        for schema, name in relations
    }
    hashes["catalog"] = db.execute(
        """
        select md5(string_agg(item, E'\\n' order by item))
        from (
            select format('%%s.%%s %%s %%s %%s %%s', n.nspname, c.relname, c.relkind, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull) as item
            from pg_class as c
            join pg_namespace as n on n.oid = c.relnamespace
            left join pg_attribute as a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
            where n.nspname = any(%(schemas)s)
            union all
            select format('%%s %%s', con.conname, pg_get_constraintdef(con.oid))
            from pg_constraint as con
            where con.connamespace::regnamespace::text = any(%(schemas)s)
            union all
            select pg_get_indexdef(i.indexrelid)
            from pg_index as i
            join pg_class as c on c.oid = i.indrelid
            where c.relnamespace::regnamespace::text = any(%(schemas)s)
        ) as catalog (item)
        """,
        {"schemas": list(SOURCE_SCHEMAS)},
    ).fetchone()[0]
    return hashes


if __name__ == "__main__":
    _run_in_this_process(sys.argv[1], date.fromisoformat(sys.argv[2]), Path(sys.argv[3]))
