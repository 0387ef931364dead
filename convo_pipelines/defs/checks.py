"""Asset checks that run one SQL file each and pass when the file reports no violations.

A check file returns one row per problem kind: (problem text, violations bigint, samples jsonb),
so every check reports its counts and a few samples the same way, whatever it verifies.
"""

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, field

import dagster as dg

from convo_pipelines.defs.followed_run import materialization_in_run
from convo_pipelines.defs.previews import preview_table
from convo_pipelines.defs.resources import APP_DATABASE_POOL, TRANSIENT_ERRORS_RETRY, PostgresResource
from convo_pipelines.lib.postgres.session import Session
from convo_pipelines.lib.postgres.timing import sql_seconds


@dataclass(frozen=True)
class CheckScope:
    """What part of a table a check covers: bound parameters for its SQL, the sql/ files it embeds
    for this run (over the check's own), and a label for people."""

    label: str
    params: Mapping[str, object] = field(default_factory=dict)
    # Placeholder -> sql/ file embedded in the check's file for this scope (over the check's own `fragments`):
    # how a scope picks its rows when a parameter alone cannot say it.
    fragments: Mapping[str, str] = field(default_factory=dict)
    # True when the scope reads a sample and the catalog, not a table (a check that follows a run): the
    # statement then runs in one process, as starting parallel workers would cost more than the reads.
    single_process: bool = False


# The materialization metadata under which a run records what its table's constraints guarantee (Guarantee).
GUARANTEES_METADATA = "constraint_guarantees"


@dataclass(frozen=True)
class Guarantee:
    """Problems of a check that validated constraints rule out, as the run that wrote the table found them.

    The step that writes a table reads, after its writes, which of its problems the table's constraints
    rule out (rows of problem, 0 violations, no samples, the constraint) and records them in its
    materialization under GUARANTEES_METADATA, {problem: constraint}. A check that follows it in the same
    run reports those rows when they rule out every one of its `problems`: the run already read the
    catalog the check would read, moments before. When one is missing the check looks itself."""

    problems: tuple[str, ...]

    def rows_recorded_by(self, materialization: dg.AssetMaterialization) -> list[tuple] | None:
        recorded = materialization.metadata.get(GUARANTEES_METADATA)
        proven = recorded.value if recorded is not None and isinstance(recorded.value, dict) else {}
        if not all(problem in proven for problem in self.problems):
            return None
        return [(problem, 0, [], proven[problem]) for problem in self.problems]


WHOLE_TABLE = CheckScope(label="whole table")
# Samples per problem kind in a check's metadata: enough to start investigating, small in the UI.
SAMPLE_LIMIT = 5


def result_from_problems(
    rows: Iterable[tuple[str, int, object]],
    severity: dg.AssetCheckSeverity,
    extra_metadata: Mapping[str, object] | None = None,
    check_key: dg.AssetCheckKey | None = None,
) -> dg.AssetCheckResult:
    """An AssetCheckResult that passes when every problem count is zero, with counts and samples; for the
    check `check_key` (which a step running several checks names).

    A row may carry a fourth column: what guarantees its count without a scan (a constraint's name)."""
    metadata: dict[str, object] = dict(extra_metadata or {})
    counts: dict[str, int] = {}
    for row in rows:
        problem, violations, samples = row[:3]
        counts[problem] = int(violations)
        if len(row) > 3 and row[3]:
            # What made the count certain without reading the rows (a validated constraint).
            metadata[f"{problem}_verified_by"] = dg.MetadataValue.text(str(row[3]))
        metadata[f"{problem}_count"] = dg.MetadataValue.int(int(violations))
        metadata[f"{problem}_samples"] = dg.MetadataValue.json(samples if samples is not None else [])
        if violations and isinstance(samples, list) and samples:
            # The same samples as a table, which the UI shows without opening the JSON.
            metadata[f"{problem}_samples_table"] = preview_table(samples)
    total = sum(counts.values())
    metadata["violations"] = dg.MetadataValue.int(total)
    summary = ", ".join(f"{count} {problem}" for problem, count in counts.items()) or "nothing checked"
    return dg.AssetCheckResult(
        passed=total == 0,
        severity=severity,
        metadata=metadata,
        description=summary,
        asset_key=check_key.asset_key if check_key else None,
        check_name=check_key.name if check_key else None,
    )


class SessionOnDemand:
    """The read-only session of a check step, opened by the first check of the step that reads the database
    (a check that reports its run's figures reads none) and shared by the step's next checks: one connection
    and one transaction per step, closed with `stack`."""

    def __init__(self, postgres: PostgresResource, stack: ExitStack) -> None:
        self._postgres = postgres
        self._stack = stack
        self._session: Session | None = None

    def get(self) -> Session:
        if self._session is None:
            self._session = self._stack.enter_context(self._postgres.read_only_session())
        return self._session


@dataclass(frozen=True)
class SqlCheck:
    """A check that runs sql/<sql_file> read-only and reports its problems (result_from_problems).

    `identifiers` are bound as quoted identifiers, `fragments` as other sql/ files (queries the
    check's file embeds, rendered with the same identifiers), `values` as parameters.

    Non-blocking by default because the asset's data is already committed when the check runs:
    failing the run would not undo it, it would only stop the other assets of the run from being
    refreshed. `blocking` is for a check whose failure would make a downstream asset wrong: an ERROR
    then keeps the downstream assets of the same run from running on it.
    The check reads the application database, so its step takes a slot of the same pool as the assets.
    `reported_by_run` is for a check whose answer the asset itself measures and records (the check's own
    SQL, or the constraints that rule its problems out: Guarantee.rows_recorded_by): after a materialization
    in the same run it returns that materialization's problem rows (None when it holds none), and the
    check reports them, `reported_as` naming where they come from, instead of reading the same again.
    `first_pass_fragments` replace some of the fragments for a first statement over a small scope (a check
    that follows a run) whose clean answer is the check's answer: what they leave out can only excuse
    problems, so when it finds none the check is done with a shorter plan, and otherwise it runs as written.
    (Over a whole table a second statement would double a long check whenever something differs.)
    """

    name: str
    sql_file: str
    description: str
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR
    identifiers: Mapping[str, str] = field(default_factory=dict)
    fragments: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, object] = field(default_factory=dict)
    scope_of: Callable[[dg.AssetCheckExecutionContext], CheckScope] | None = None
    blocking: bool = False
    reported_by_run: Callable[[dg.AssetMaterialization], list[tuple] | None] | None = None
    reported_as: str = "as this run's materialization measured it"
    first_pass_fragments: Mapping[str, str] = field(default_factory=dict)

    def spec(self, asset_key: dg.AssetKey) -> dg.AssetCheckSpec:
        return dg.AssetCheckSpec(name=self.name, asset=asset_key, description=self.description, blocking=self.blocking)

    def evaluate(
        self, context: dg.AssetCheckExecutionContext, asset_key: dg.AssetKey, sessions: SessionOnDemand
    ) -> dg.AssetCheckResult:
        """This check's result on `asset_key`, reading through the step's session when it reads at all."""
        check_key = dg.AssetCheckKey(asset_key, self.name)
        reported = _reported_by_this_run(context, asset_key, self.reported_by_run)
        if reported is not None:
            context.log.info(f"{self.name} on {asset_key.to_user_string()}: {self.reported_as}")
            return result_from_problems(
                reported,
                self.severity,
                {"scope": dg.MetadataValue.text(self.reported_as), "sql_seconds": dg.MetadataValue.float(0.0)},
                check_key,
            )
        scope = self.scope_of(context) if self.scope_of else WHOLE_TABLE
        started = time.monotonic()
        session = sessions.get()
        # A scope that runs in one process says so with SET LOCAL: inside a savepoint rolled back after the
        # check, so that the step's next check on the same transaction starts from the step's settings.
        with session.conn.transaction(force_rollback=True) if scope.single_process else nullcontext():
            before = sql_seconds(session.conn)
            rows = self._problem_rows(session, scope)
            in_postgres = sql_seconds(session.conn) - before
        seconds = round(time.monotonic() - started, 3)
        context.log.info(f"{self.name} on {asset_key.to_user_string()} ({scope.label}) ran in {seconds:.3f} s")
        return result_from_problems(
            rows,
            self.severity,
            {
                "scope": dg.MetadataValue.text(scope.label),
                "seconds": dg.MetadataValue.float(seconds),
                # Its statements alone, as an asset's sql_seconds: opening the connection is not the check's work.
                "sql_seconds": dg.MetadataValue.float(round(in_postgres, 4)),
            },
            check_key,
        )

    def _problem_rows(self, session: Session, scope: CheckScope) -> list[tuple]:
        fragment_files = {**self.fragments, **scope.fragments}
        embedded = {placeholder: session.sql(name, **self.identifiers) for placeholder, name in fragment_files.items()}
        params = {"sample_limit": SAMPLE_LIMIT, "source_schema": session.source_schema, **self.values, **scope.params}
        if scope.single_process:
            session.execute(session.sql("lib/session/set_single_process_settings.sql"))
        if self.first_pass_fragments and scope.single_process:
            shorter = {
                **embedded,
                **{
                    placeholder: session.sql(name, **self.identifiers)
                    for placeholder, name in self.first_pass_fragments.items()
                },
            }
            rows = session.execute(session.sql(self.sql_file, **self.identifiers, **shorter), params).fetchall()
            if not any(row[1] for row in rows):
                return rows
        return session.execute(session.sql(self.sql_file, **self.identifiers, **embedded), params).fetchall()


def build_sql_check(*, asset: dg.AssetsDefinition | dg.AssetSpec, **check: object) -> dg.AssetChecksDefinition:
    """A step of its own for the SqlCheck `check` (its fields as keywords) on `asset`."""
    sql_check = SqlCheck(**check)

    @dg.asset_check(
        asset=asset.key,
        name=sql_check.name,
        description=sql_check.description,
        blocking=sql_check.blocking,
        pool=APP_DATABASE_POOL,
        retry_policy=TRANSIENT_ERRORS_RETRY,
    )
    def _sql_check(context: dg.AssetCheckExecutionContext, postgres: PostgresResource) -> dg.AssetCheckResult:
        with ExitStack() as stack:
            return sql_check.evaluate(context, asset.key, SessionOnDemand(postgres, stack))

    return _sql_check


def build_sql_checks(
    *, asset: dg.AssetsDefinition | dg.AssetSpec, name: str, checks: Sequence[SqlCheck]
) -> dg.AssetChecksDefinition:
    """One step, op `name`, for several SqlChecks of `asset`, run in their order on one connection.

    Each stays a check of its own, as it would be in its own step: its key, description, blocking and severity,
    its result and metadata; a failed blocking check still fails the step (Dagster raises once the step
    has yielded every result), so the assets downstream of `asset` in the run do not start. A step costs
    Dagster its events and bookkeeping whatever it does, which came to more than most checks' own SQL.
    The step runs the checks its run selected (can_subset): a check launched alone from the UI runs alone."""

    @dg.multi_asset_check(
        name=name,
        specs=[check.spec(asset.key) for check in checks],
        description=f"The SQL checks of {asset.key.to_user_string()}, in one step.",
        can_subset=True,
        pool=APP_DATABASE_POOL,
        retry_policy=TRANSIENT_ERRORS_RETRY,
    )
    def _sql_checks(
        context: dg.AssetCheckExecutionContext, postgres: PostgresResource
    ) -> Iterator[dg.AssetCheckResult]:
        selected = context.selected_asset_check_keys
        with ExitStack() as stack:
            sessions = SessionOnDemand(postgres, stack)
            for check in checks:
                if dg.AssetCheckKey(asset.key, check.name) in selected:
                    yield check.evaluate(context, asset.key, sessions)

    return _sql_checks


def _reported_by_this_run(
    context: dg.AssetCheckExecutionContext,
    asset_key: dg.AssetKey,
    reported_by_run: Callable[[dg.AssetMaterialization], list[tuple] | None] | None,
) -> list[tuple] | None:
    if reported_by_run is None:
        return None
    materialization = materialization_in_run(context, asset_key)
    return None if materialization is None else reported_by_run(materialization)
