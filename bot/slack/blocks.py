"""Block Kit builders: pure functions from our records to (fallback text, blocks).

Slack ids live here as constants and are imported wherever needed. Every builder keeps within
Slack's limits (50 blocks, 3000 characters a section, 75 a button) and always returns a
plain-text fallback for notifications and screen readers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.domain.cancellability import Verdict
from bot.domain.snapshot import Snapshot, TaskLine

__all__ = [
    "APPROVAL_BLOCK_ID",
    "APPROVE_ACTION_ID",
    "REJECT_ACTION_ID",
    "RequestView",
    "decision_buttons",
    "escape",
    "request_message",
    "status_message",
    "task_icon",
]

APPROVE_ACTION_ID = "cce_cancel_approve"
REJECT_ACTION_ID = "cce_cancel_reject"
APPROVAL_BLOCK_ID = "cce_cancel_decision"
STATUS_BLOCK_ID = "cce_cancel_status"

Block = dict[str, Any]
_SECTION_MAX = 3000

_ICONS = {
    "success": ":white_check_mark:",
    "failed": ":x:",
    "running": ":arrows_counterclockwise:",
    "init": ":hourglass_flowing_sand:",
    "queuing": ":hourglass_flowing_sand:",
    "queue": ":hourglass_flowing_sand:",
    "pause": ":double_vertical_bar:",
}


def escape(text: str) -> str:
    """Escape user text for mrkdwn so it cannot mention, link or break formatting."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int = _SECTION_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _section(text: str, block_id: str | None = None) -> Block:
    block: Block = {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text)}}
    if block_id:
        block["block_id"] = block_id
    return block


def task_icon(status: str | None) -> str:
    if not status:
        return ":white_circle:"
    return _ICONS.get(status.lower(), ":grey_question:")


def short_time(value: str | None) -> str:
    """`07:20:04` from the API's `2023-11-25 07:20:04.592972 +0000 UTC`."""
    if not value:
        return ""
    parts = value.split(" ")
    return parts[1].split(".")[0] if len(parts) > 1 else value


def task_line(task: TaskLine) -> str:
    status = escape(task.status) if task.status else "not started"
    times = ""
    if task.start:
        times = f" ({short_time(task.start)}"
        times += f" → {short_time(task.end)})" if task.end else " → …)"
    return f"{task_icon(task.status)} *{escape(task.task_type)}*: {status}{times}"


def timeline(snap: Snapshot) -> str:
    if not snap.tasks:
        return "_no tasks reported_"
    return "\n".join(task_line(t) for t in snap.tasks[:20])


def slack_date(at: datetime) -> str:
    """A Slack date token that each reader sees in their own time zone, with a UTC fallback."""
    epoch = int(at.timestamp())
    fallback = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{epoch}^{{date_short_pretty}} {{time}}|{fallback}>"


def cluster_label(alias: str | None, cluster_id: str) -> str:
    return f"*{escape(alias)}* (`{cluster_id}`)" if alias else f"`{cluster_id}`"


def versions(snap: Snapshot) -> str:
    return f"{escape(snap.cluster_version or '?')} → {escape(snap.target_version or '?')}"


class RequestView:
    """What the approval message shows; built from the stored request."""

    def __init__(
        self,
        *,
        approval_id: str,
        alias: str | None,
        cluster_id: str,
        workflow_id: str,
        requester_id: str,
        reason: str,
        expires_at: datetime,
        required: int,
        approved_by: tuple[str, ...],
        snap: Snapshot,
        state: str = "pending",
        outcome: str | None = None,
    ) -> None:
        self.approval_id = approval_id
        self.alias = alias
        self.cluster_id = cluster_id
        self.workflow_id = workflow_id
        self.requester_id = requester_id
        self.reason = reason
        self.expires_at = expires_at
        self.required = required
        self.approved_by = approved_by
        self.snap = snap
        self.state = state
        self.outcome = outcome


_STATE_TITLES = {
    "pending": ":rotating_light: Cancel this CCE upgrade?",
    "approved": ":hourglass_flowing_sand: Cancel approved: sending it to CCE",
    "cancel_requested": ":hourglass_flowing_sand: Cancel approved: sending it to CCE",
    "cancelled": ":octagonal_sign: CCE upgrade cancelled",
    "rejected": ":no_entry_sign: Cancel request rejected",
    "expired": ":alarm_clock: Cancel request expired",
    "failed": ":warning: Cancel request failed",
}


def request_message(view: RequestView) -> tuple[str, list[Block]]:
    """The approval request (buttons while pending) or its final form (no buttons)."""
    who = view.alias or view.cluster_id
    title = _STATE_TITLES.get(view.state, f":grey_question: {view.state}")
    fallback = (
        f"{title.split(' ', 1)[-1]} Cluster {who}, workflow {view.workflow_id}, "
        f"requested by <@{view.requester_id}>."
    )
    fields = [
        f"*Cluster*\n{cluster_label(view.alias, view.cluster_id)}",
        f"*Version*\n{versions(view.snap)}",
        f"*Workflow*\n`{view.workflow_id}`",
        f"*Phase*\n{escape(view.snap.phase or 'unknown')}",
        f"*Requested by*\n<@{view.requester_id}>",
        f"*Expires*\n{slack_date(view.expires_at)}",
    ]
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(title, 150)}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
        _section(f"*Reason*\n{escape(view.reason) if view.reason else '_none given_'}"),
        _section(f"*Tasks*\n{timeline(view.snap)}"),
    ]
    approvals = ", ".join(f"<@{u}>" for u in view.approved_by) or "none yet"
    status = f"*Approvals* ({len(view.approved_by)} of {view.required}): {approvals}"
    if view.outcome:
        status += f"\n{view.outcome}"
    blocks.append(_section(status, STATUS_BLOCK_ID))
    if view.state == "pending":
        blocks.append(decision_buttons(view))
    blocks.append(
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": f"Request `{view.approval_id}`"}],
        }
    )
    return fallback, blocks


def decision_buttons(
    view: RequestView,
    *,
    approve: bool = True,
    reject: bool = True,
    block_id: str = APPROVAL_BLOCK_ID,
) -> Block:
    """Approve (with its confirm dialog) and Reject, carrying the approval id. The request
    message and the Home tab (one block per request there, so its own `block_id`) both use it."""
    who = view.alias or view.cluster_id
    elements: list[Block] = []
    if approve:
        elements.append(
            {
                "type": "button",
                "action_id": APPROVE_ACTION_ID,
                "text": {"type": "plain_text", "text": "Approve cancel"},
                "style": "danger",
                "value": view.approval_id,
                "confirm": {
                    "title": {"type": "plain_text", "text": "Cancel the upgrade?"},
                    "text": {
                        "type": "mrkdwn",
                        "text": _clip(
                            f"This sends a cancel for workflow `{view.workflow_id}` on "
                            f"{escape(who)}. It cannot be undone from Slack.",
                            300,
                        ),
                    },
                    "confirm": {"type": "plain_text", "text": "Yes, cancel it"},
                    "deny": {"type": "plain_text", "text": "Keep upgrading"},
                    "style": "danger",
                },
            }
        )
    if reject:
        elements.append(
            {
                "type": "button",
                "action_id": REJECT_ACTION_ID,
                "text": {"type": "plain_text", "text": "Reject"},
                "value": view.approval_id,
            }
        )
    return {"type": "actions", "block_id": block_id, "elements": elements}


def status_message(
    alias: str | None, cluster_id: str, workflow_id: str, snap: Snapshot, verdict: Verdict
) -> tuple[str, list[Block]]:
    """The answer to `status`: phase, versions, timeline, and whether it may be cancelled."""
    can = (
        ":white_check_mark: May be cancelled now."
        if verdict.cancellable
        else f":no_entry: Cannot be cancelled now. {escape(verdict.explain())}"
    )
    notes = "".join(f"\n_{escape(n)}_" for n in verdict.notes)
    text = (
        f"*Workflow* `{workflow_id}` on {cluster_label(alias, cluster_id)}\n"
        f"*Phase* {escape(snap.phase or 'unknown')} · *Version* {versions(snap)}\n"
        f"{timeline(snap)}\n{can}{notes}"
    )
    fallback = f"Workflow {workflow_id}: phase {snap.phase or 'unknown'}"
    return fallback, [_section(text)]


def list_message(
    alias: str | None, cluster_id: str, rows: list[tuple[str, Snapshot, str]]
) -> tuple[str, list[Block]]:
    """The answer to `list`: each workflow (id, phase, versions, created), newest first."""
    label = cluster_label(alias, cluster_id)
    if not rows:
        return f"No upgrade workflows on {alias or cluster_id}.", [
            _section(f"No upgrade workflows on {label}.")
        ]
    lines = [
        f"• `{wid}`: *{escape(snap.phase or 'unknown')}*, {versions(snap)}, created {escape(made)}"
        for wid, snap, made in rows[:40]
    ]
    more = f"\n_…and {len(rows) - 40} more_" if len(rows) > 40 else ""
    text = f"*Upgrade workflows on* {label} (newest first)\n" + "\n".join(lines) + more
    return f"{len(rows)} upgrade workflows on {alias or cluster_id}", [_section(text)]


def watch_message(
    alias: str | None, cluster_id: str, workflow_id: str, snap: Snapshot, user_id: str | None
) -> tuple[str, list[Block]]:
    """The root message of a `watch`: current phase and timeline; progress goes in its thread."""
    asked = f" (asked by <@{user_id}>)" if user_id else ""
    text = (
        f":eyes: *Watching upgrade workflow* `{workflow_id}` on {cluster_label(alias, cluster_id)}"
        f"{asked}\n*Phase* {escape(snap.phase or 'unknown')} · *Version* "
        f"{versions(snap)}\n{timeline(snap)}\n_Each change is posted in this thread._"
    )
    fallback = f"Watching workflow {workflow_id} on {alias or cluster_id}: phase {snap.phase}"
    return fallback, [_section(text, STATUS_BLOCK_ID)]
