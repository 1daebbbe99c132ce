"""The alert message (SPEC §10.3): cluster, workflow, versions, what happened and when, the task
timeline, and two buttons — Request cancel… (the cancel modal, filled in) and Watch (a watch in
the alert's thread). Pure builders; ids are constants; button values are parsed back here."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bot.domain.alerts import Condition, Finding
from bot.domain.ids import InvalidID, validate_cluster_id, validate_project_id, validate_workflow_id
from bot.domain.snapshot import Snapshot
from bot.slack.blocks import escape, short_time, timeline, versions

__all__ = [
    "ALERT_CANCEL_ACTION_ID",
    "ALERT_WATCH_ACTION_ID",
    "AlertTarget",
    "alert_message",
    "parse_target",
]

ALERT_CANCEL_ACTION_ID = "cce_alert_request_cancel"
ALERT_WATCH_ACTION_ID = "cce_alert_watch"
ALERT_ACTIONS_BLOCK_ID = "cce_alert_actions"

_TITLES = {
    Condition.FAILED: ":rotating_light: A CCE upgrade task failed",
    Condition.STALLED: ":hourglass: A CCE upgrade seems stalled",
}


@dataclass(frozen=True)
class AlertTarget:
    """What an alert's buttons act on: a workflow in a cluster of a project."""

    project_id: str
    cluster_id: str
    workflow_id: str

    def value(self) -> str:
        return json.dumps({"p": self.project_id, "c": self.cluster_id, "w": self.workflow_id})


def parse_target(value: object) -> AlertTarget | None:
    """A button's value back from Slack (untrusted): the target, or None when it is malformed."""
    try:
        data = json.loads(str(value))
        return AlertTarget(
            validate_project_id(data["p"]),
            validate_cluster_id(data["c"]),
            validate_workflow_id(data["w"]),
        )
    except (ValueError, TypeError, KeyError, InvalidID):
        return None


def alert_message(
    *, label: str, target: AlertTarget, snap: Snapshot, finding: Finding
) -> tuple[str, list[dict[str, Any]]]:
    """(fallback text, blocks) of one alert. `label` is how people call the cluster."""
    title = _TITLES[finding.condition]
    when = f" at {short_time(finding.at)} UTC" if finding.at else ""
    fallback = f"{title.split(' ', 1)[1]}: {finding.what} on {label}, workflow {target.workflow_id}"
    fields = [
        f"*Cluster*\n*{escape(label)}* (`{target.cluster_id}`)",
        f"*Version*\n{versions(snap)}",
        f"*Workflow*\n`{target.workflow_id}`",
        f"*Phase*\n{escape(snap.phase or 'unknown')}",
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{escape(finding.what)}*{when}"}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*Tasks*\n{timeline(snap)}"}},
        {
            "type": "actions",
            "block_id": ALERT_ACTIONS_BLOCK_ID,
            "elements": [
                {
                    "type": "button",
                    "action_id": ALERT_CANCEL_ACTION_ID,
                    "text": {"type": "plain_text", "text": "Request cancel…"},
                    "style": "danger",
                    "value": target.value(),
                },
                {
                    "type": "button",
                    "action_id": ALERT_WATCH_ACTION_ID,
                    "text": {"type": "plain_text", "text": "Watch"},
                    "value": target.value(),
                },
            ],
        },
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": "Request cancel… asks for a reason, then an approver's approval; "
                    "Watch follows the upgrade in this thread.",
                }
            ],
        },
    ]
    return fallback, blocks
