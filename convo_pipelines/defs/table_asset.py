"""The decorator every table asset shares: a PostgreSQL table of the application database, written in the
app_database pool, retried on transient errors, owned by the data platform, daily-partitioned unless said."""

import warnings
from collections.abc import Iterable
from typing import Protocol

import dagster as dg

from convo_pipelines.defs.partitions import daily_partitions
from convo_pipelines.defs.resources import APP_DATABASE_POOL, TRANSIENT_ERRORS_RETRY

OWNERS = ["team:data-platform"]
# Dagster marks `backfill_policy` beta and says so for each asset, on every command that loads the definitions.
BACKFILL_POLICY_IS_BETA = r"Parameter `backfill_policy` of function `asset` is currently in beta"


class Column(Protocol):
    """A column as a table's description gives it (links/tables.py's Column is one)."""

    name: str
    type: str
    description: str
    nullable: bool
    unique: bool


def table_schema(columns: Iterable[Column], constraints: Iterable[str]) -> dg.TableSchema:
    """The column schema the UI shows for a table described by plain `columns` and `constraints`."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                c.name, c.type, c.description, dg.TableColumnConstraints(nullable=c.nullable, unique=c.unique)
            )
            for c in columns
        ],
        constraints=dg.TableConstraints(other=list(constraints)),
    )


def table_asset(
    *,
    name: str,
    group_name: str,
    table_name: str,
    schema: dg.TableSchema,
    deps: list[dg.AssetsDefinition | dg.AssetSpec] | tuple[str, ...],
    partitioned: bool = True,
    freshness_policy: dg.FreshnessPolicy | None = None,
    column_lineage: dg.TableColumnLineage | None = None,
):
    """@asset for the table `table_name` (schema.table), named `name`. A partitioned one takes a range as
    ONE run (single-run backfill policy), so a backfill of many days is one set-based statement per step."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=BACKFILL_POLICY_IS_BETA, category=dg.BetaWarning)
        return dg.asset(
            name=name,
            group_name=group_name,
            kinds={"postgres"},
            owners=OWNERS,
            pool=APP_DATABASE_POOL,
            retry_policy=TRANSIENT_ERRORS_RETRY,
            deps=deps,
            partitions_def=daily_partitions if partitioned else None,
            backfill_policy=dg.BackfillPolicy.single_run() if partitioned else None,
            freshness_policy=freshness_policy,
            metadata={
                "dagster/table_name": table_name,
                "dagster/column_schema": schema,
                **({"dagster/column_lineage": column_lineage} if column_lineage else {}),
            },
        )
