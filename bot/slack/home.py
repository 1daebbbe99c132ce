"""Block Kit for the App Home tab (SPEC §10.2): the requests waiting for approval (with Approve /
Reject for whoever may decide: the channel's action ids, so the same decisions part answers), the
watches running with a link to each thread, and the last outcomes.

Pure: the parts gather what it shows. Within Slack's 100 blocks for a Home view.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.slack.blocks import RequestView, cluster_label, decision_buttons, escape, slack_date

__all__ = ["HOME_DECISION_BLOCK_PREFIX", "HomeOutcome", "HomeRequest", "HomeWatch", "home_view"]

HOME_DECISION_BLOCK_PREFIX = "cce_home_decide:"  # + approval id: block ids are unique per view
MAX_WAITING = 20  # two blocks each
MAX_LINES = 15  # watches and outcomes, one line each

Block = dict[str, Any]

_ENDED_ICONS = {
    "cancelled": ":octagonal_sign:",
    "rejected": ":no_entry_sign:",
    "expired": ":alarm_clock:",
    "failed": ":warning:",
}


@dataclass(frozen=True)
class HomeRequest:
    """A pending request, and which buttons the person looking may use."""

    view: RequestView
    approve: bool
    reject: bool


@dataclass(frozen=True)
class HomeWatch:
    label: str | None
    cluster_id: str
    workflow_id: str
    channel_id: str
    started_at: datetime
    link: str | None


@dataclass(frozen=True)
class HomeOutcome:
    view: RequestView
    decided_by: str | None
    decided_at: datetime | None


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def _header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": text[:150]}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:3000]}]}


def _waiting(request: HomeRequest) -> list[Block]:
    v = request.view
    approvals = ", ".join(f"<@{u}>" for u in v.approved_by) or "none yet"
    reason = escape(v.reason) if v.reason else "_none given_"
    text = (
        f"{cluster_label(v.alias, v.cluster_id)} · workflow `{v.workflow_id}`\n"
        f"{escape(v.snap.cluster_version or '?')} → {escape(v.snap.target_version or '?')} · "
        f"{escape(v.snap.phase or 'unknown')} · requested by <@{v.requester_id}> "
        f"· expires {slack_date(v.expires_at)}\n*Reason* {reason}\n"
        f"*Approvals* ({len(v.approved_by)} of {v.required}): {approvals} · `{v.approval_id}`"
    )
    blocks = [_section(text)]
    if request.approve or request.reject:
        blocks.append(
            decision_buttons(
                v,
                approve=request.approve,
                reject=request.reject,
                block_id=HOME_DECISION_BLOCK_PREFIX + v.approval_id,
            )
        )
    return blocks


def _watch_line(watch: HomeWatch) -> str:
    where = f"<{watch.link}|open the thread>" if watch.link else f"in <#{watch.channel_id}>"
    return (
        f"• {cluster_label(watch.label, watch.cluster_id)} · workflow `{watch.workflow_id}` "
        f"since {slack_date(watch.started_at)} · {where}"
    )


def _outcome_line(outcome: HomeOutcome) -> str:
    v = outcome.view
    icon = _ENDED_ICONS.get(v.state, ":grey_question:")
    by = f" by <@{outcome.decided_by}>" if outcome.decided_by else ""
    at = f" · {slack_date(outcome.decided_at)}" if outcome.decided_at else ""
    return (
        f"• {icon} *{escape(v.state)}*{by} · {cluster_label(v.alias, v.cluster_id)} · "
        f"workflow `{v.workflow_id}`{at}"
    )


def home_view(
    *,
    waiting: list[HomeRequest],
    watches: list[HomeWatch],
    outcomes: list[HomeOutcome],
    approver: bool | None,
    note: str | None = None,
    now: datetime,
) -> dict[str, Any]:
    """The Home view for one person. `approver` None: whether they are one could not be told."""
    blocks: list[Block] = [_header("CCE upgrade cancels")]
    if note:
        blocks.append(_section(f":information_source: {note}"))  # our own mrkdwn
    blocks.append(_header(f"Waiting for approval ({len(waiting)})"))
    for request in waiting[:MAX_WAITING]:
        blocks.extend(_waiting(request))
    if not waiting:
        blocks.append(_context("Nothing is waiting for approval."))
    elif approver is False:
        blocks.append(_context("You are not an approver, so there are no buttons for you here."))
    elif approver is None:
        blocks.append(
            _context("The bot could not check the approver groups with Slack just now; try again.")
        )
    blocks.append(_header(f"Watches running ({len(watches)})"))
    lines = [_watch_line(w) for w in watches[:MAX_LINES]]
    blocks.append(_section("\n".join(lines)) if lines else _context("No workflow is watched now."))
    blocks.append(_header("Last outcomes"))
    lines = [_outcome_line(o) for o in outcomes[:MAX_LINES]]
    blocks.append(_section("\n".join(lines)) if lines else _context("No request has ended yet."))
    blocks.append(_context(f"Updated {slack_date(now)} · `/cce-upgrade help` for the commands"))
    return {"type": "home", "blocks": blocks}
