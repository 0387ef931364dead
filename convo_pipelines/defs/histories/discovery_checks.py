"""The discovery's own checks: whether it ran recently enough, and which crews its latest runs skipped (the
`skipped_crews` metadata of their materializations), since some problems show only at query time."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import dagster as dg
from croniter import croniter

from convo_pipelines.defs.histories.assets import conversation_summaries, histories_sessions
from convo_pipelines.lib.settings import get_settings

ERROR = dg.AssetCheckSeverity.ERROR

# The assets whose runs skip crews: each records them (crew -> reason) as `skipped_crews` in its metadata.
DISCOVERY_ASSETS = (histories_sessions, conversation_summaries)


def latest_discovery_metadata(instance: dg.DagsterInstance, asset: dg.AssetsDefinition) -> dict[str, object]:
    """The metadata values of the asset's latest materialization ({} when it never materialized)."""
    event = instance.get_latest_materialization_event(asset.key)
    if event is None or event.asset_materialization is None:
        return {}
    return {key: value.value for key, value in event.asset_materialization.metadata.items()}


def skipped_by_latest_discovery(
    instance: dg.DagsterInstance, assets: tuple[dg.AssetsDefinition, ...] = DISCOVERY_ASSETS
) -> dict[str, str]:
    """Crew -> reason for every crew the latest materialization of `assets` skipped, whatever the reason."""
    skipped: dict[str, str] = {}
    for asset in assets:
        for crew, reason in (latest_discovery_metadata(instance, asset).get("skipped_crews") or {}).items():
            skipped.setdefault(crew, f"{asset.key.to_user_string()}: {reason}")
    return skipped


def discovery_deadline(cron: str, timezone_name: str, now: datetime) -> datetime:
    """The cron tick two intervals before `now`: a success older than this means two missed ticks."""
    ticks = croniter(cron, now.astimezone(ZoneInfo(timezone_name)))
    ticks.get_prev(datetime)
    return ticks.get_prev(datetime).astimezone(UTC)


def discovery_is_fresh(last_success: datetime | None, cron: str, timezone_name: str, now: datetime) -> bool:
    """True when the discovery succeeded at or after the tick two cron intervals back."""
    return last_success is not None and last_success >= discovery_deadline(cron, timezone_name, now)


@dg.asset_check(asset=histories_sessions, name="discovery_fresh", blocking=False)
def discovery_fresh(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    """Fails when the latest histories_sessions materialization skipped a crew, or is older than two
    CONVERSATION_DISCOVERY_CRON intervals.

    The age is what the asset's FreshnessPolicy already watches between runs (Dagster evaluates it). What
    that policy cannot express is why this check remains: a materialization that skipped a crew wrote
    nothing for that crew, so it says nothing about its new messages and must not count as fresh."""
    settings = get_settings()
    now = datetime.now(UTC)
    event = context.instance.get_latest_materialization_event(histories_sessions.key)
    last_success = datetime.fromtimestamp(event.timestamp, UTC) if event else None
    deadline = discovery_deadline(settings.conversation_discovery_cron, settings.schedule_timezone, now)
    recent = discovery_is_fresh(last_success, settings.conversation_discovery_cron, settings.schedule_timezone, now)
    skipped = skipped_by_latest_discovery(context.instance, (histories_sessions,)) if recent else {}
    if not recent:
        description = (
            f"no successful discovery since {deadline.isoformat()} (cron {settings.conversation_discovery_cron!r})"
        )
    elif skipped:
        description = (
            f"the latest discovery skipped {len(skipped)} crew(s), whose messages it did not read: "
            f"{', '.join(sorted(skipped))} (reasons in crews_not_discovered and histories_tables_valid)"
        )
    else:
        description = "discovery ran within two cron intervals, for every crew"
    return dg.AssetCheckResult(
        passed=recent and not skipped,
        severity=ERROR,
        description=description,
        metadata={
            "last_success": last_success.isoformat() if last_success else "never",
            "deadline": deadline.isoformat(),
            "cron": settings.conversation_discovery_cron,
            "crews_not_discovered": dg.MetadataValue.json(skipped),
        },
    )
