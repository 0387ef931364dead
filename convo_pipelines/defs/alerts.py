"""Tells people when a run fails: one message per failed run, posted to a Slack-compatible webhook
(ALERT_WEBHOOK_URL) or, without one, written to the sensor's log.

The message names the job, the partitions (or range) the run covered, the failed steps, the error in
one line and, with DAGSTER_WEBSERVER_URL, a link to the run in the UI. Neither URL is ever printed:
a webhook's path is its secret.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

import dagster as dg

from convo_pipelines.defs.automation import background_status
from convo_pipelines.defs.partitions import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from convo_pipelines.lib.errors import headline
from convo_pipelines.lib.settings import describe_http_url, get_settings

PARTITION_TAG = "dagster/partition"
# A webhook that is down for a moment gets two more tries, 1 and 2 seconds apart; the sensor's
# tick then shows the error (a run status sensor does not evaluate the same failure twice).
POST_ATTEMPTS = 3
POST_TIMEOUT_SECONDS = 10
# Dagster wraps a step's own error in these; the alert shows the error underneath.
WRAPPER_MESSAGES = ("Exceeded max_retries", "Error occurred while executing", "RetryRequested")
# What a run failure says when the code server or the monitoring daemon failed the run from outside.
MARKED_FAILED_FROM_OUTSIDE = "This run has been marked as failed from outside"


class AlertDeliveryError(RuntimeError):
    """The webhook did not take the alert; the message names the variable, never the URL's secret."""


@dataclass(frozen=True)
class RunFailureAlert:
    """What a person needs to know about a failed run, without opening the UI."""

    job: str
    run_id: str
    partitions: str
    failed_steps: tuple[str, ...]
    error: str
    run_url: str | None

    def lines(self) -> list[str]:
        return [
            f"Run failed: {self.job} ({self.partitions})",
            f"failed step: {', '.join(self.failed_steps) or 'none (the run failed outside its steps)'}",
            f"error: {self.error}",
            f"run: {self.run_url or self.run_id}",
        ]

    def text(self) -> str:
        return "\n".join(self.lines())

    def payload(self) -> dict[str, object]:
        """Slack's incoming-webhook JSON: `text` for notifications and other chat tools, plus one block."""
        link = f"<{self.run_url}|{self.run_id}>" if self.run_url else f"`{self.run_id}`"
        markdown = "\n".join(
            [
                f":rotating_light: *Run failed: {slack_escaped(self.job)}* ({self.partitions})",
                f"*failed step:* {slack_escaped(', '.join(self.failed_steps)) or 'none (the run failed outside its steps)'}",
                f"*error:* {slack_escaped(self.error)}",
                f"*run:* {link}",
            ]
        )
        return {"text": self.text(), "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": markdown}}]}


def slack_escaped(text: str) -> str:
    """Text Slack's mrkdwn shows as is: &, < and > are its control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def describe_partitions(tags: dict[str, str]) -> str:
    """'partition 2024-01-10', 'partitions 2024-01-10...2024-01-14', or 'unpartitioned'."""
    if tags.get(PARTITION_RANGE_START_TAG) and tags.get(PARTITION_RANGE_END_TAG):
        start, end = tags[PARTITION_RANGE_START_TAG], tags[PARTITION_RANGE_END_TAG]
        return f"partition {start}" if start == end else f"partitions {start}...{end}"
    if tags.get(PARTITION_TAG):
        return f"partition {tags[PARTITION_TAG]}"
    return "unpartitioned"


def step_error_line(event: dg.DagsterEvent) -> str:
    """The one line that says why a step failed: a Failure's description, else the innermost error."""
    data = event.event_specific_data
    user_failure = getattr(data, "user_failure_data", None)
    if user_failure is not None and user_failure.description:
        return headline(user_failure.description)
    error = getattr(data, "error", None)
    while (
        error is not None
        and error.cause is not None
        and any(wrapper in headline(error.message) for wrapper in WRAPPER_MESSAGES)
    ):
        error = error.cause
    return headline(error.message if error is not None else event.message)


def run_error_line(context: dg.RunFailureSensorContext) -> str:
    """Why a run without a failed step failed: the run failure's message, or, when something outside
    the run marked it failed (its process died), the engine event that explains it."""
    message = headline(context.failure_event.message)
    if message and not message.startswith(MARKED_FAILED_FROM_OUTSIDE):
        return message
    entries = context.instance.all_logs(context.dagster_run.run_id)
    failure_at = max(
        (i for i, entry in enumerate(entries) if entry.dagster_event_type == dg.DagsterEventType.RUN_FAILURE),
        default=len(entries),
    )
    explanations = [
        entry for entry in entries[:failure_at] if entry.dagster_event_type == dg.DagsterEventType.ENGINE_EVENT
    ]
    return headline(explanations[-1].message) if explanations else message or "the run failed before any step ran"


def run_failure_alert(context: dg.RunFailureSensorContext, webserver_url: str | None) -> RunFailureAlert:
    run = context.dagster_run
    step_failures = context.get_step_failure_events()
    error = step_error_line(step_failures[-1]) if step_failures else run_error_line(context)
    return RunFailureAlert(
        job=run.job_name,
        run_id=run.run_id,
        partitions=describe_partitions(dict(run.tags)),
        failed_steps=tuple(dict.fromkeys(event.step_key for event in step_failures if event.step_key)),
        error=error,
        run_url=f"{webserver_url.rstrip('/')}/runs/{run.run_id}" if webserver_url else None,
    )


def post_alert(webhook_url: str, alert: RunFailureAlert) -> None:
    """POST the alert's JSON to the webhook, retrying a failed delivery; raises AlertDeliveryError at the end."""
    body = json.dumps(alert.payload()).encode()
    reason = ""
    for attempt in range(1, POST_ATTEMPTS + 1):
        request = urllib.request.Request(
            webhook_url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=POST_TIMEOUT_SECONDS) as response:
                response.read()
            return
        except urllib.error.HTTPError as exc:
            reason = f"HTTP {exc.code} {exc.reason}"
            if exc.code < 500 and exc.code != 429:
                break  # the webhook refuses this message (wrong URL, revoked): another try gets the same answer
        except (urllib.error.URLError, OSError) as exc:
            reason = str(getattr(exc, "reason", exc))
        if attempt < POST_ATTEMPTS:
            time.sleep(attempt)
    raise AlertDeliveryError(
        f"could not post the alert for run {alert.run_id} to ALERT_WEBHOOK_URL ({describe_http_url(webhook_url)}): {reason}"
    )


@dg.run_failure_sensor(
    name="run_failure_alert_sensor",
    description=(
        "Posts one message per failed run of this code location (job, partitions, failed step, error, "
        "link) to ALERT_WEBHOOK_URL, or logs it when the variable is unset."
    ),
    default_status=background_status(dg.DefaultSensorStatus),
)
def run_failure_alert_sensor(context: dg.RunFailureSensorContext) -> None:
    settings = get_settings()
    alert = run_failure_alert(context, settings.dagster_webserver_url)
    if settings.alert_webhook_url:
        post_alert(settings.alert_webhook_url, alert)
        context.log.info(f"posted the failure of run {alert.run_id} to {describe_http_url(settings.alert_webhook_url)}")
    else:
        context.log.warning(alert.text())


alert_sensors = [run_failure_alert_sensor]
