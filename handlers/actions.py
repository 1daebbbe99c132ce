"""Button clicks: Approve / Reject (in the channel or on the Home tab), and the choice of a
workflow a command left out. Ack at once, then let the parts decide; explain refusals to the
clicker (through response_url in a channel; on their Home tab, published again, from Home)."""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

from bot.approval.decisions import Click, Decisions
from bot.approval.home import HomeTab
from bot.approval.runner import CommandRunner
from bot.domain.approvals import ApprovalError, channel_allowed
from bot.domain.commands import Cancel, Status, Watch, parse_command
from bot.metrics import Metrics
from bot.slack.blocks import APPROVE_ACTION_ID, REJECT_ACTION_ID
from bot.slack.choices import PICK_WORKFLOW_ACTION_ID
from bot.slack.door import PostAckGate
from handlers import payload
from handlers.commands import NOT_HERE, run_command
from handlers.errors import report_unexpected

__all__ = ["handle_approve", "handle_pick_workflow", "handle_reject", "register"]

logger = logging.getLogger(__name__)


def _from_home(body: dict[str, Any]) -> bool:
    """The click came from the bot's Home tab (no channel, no message)."""
    view = payload.as_dict(body.get("view"))
    return payload.container(body).get("type") == "view" and view.get("type") == "home"


def _channel(body: dict[str, Any]) -> str:
    channel = payload.as_dict(body.get("channel")).get("id")
    return str(channel or payload.container(body).get("channel_id") or "")


def _click(body: dict[str, Any], approving: bool) -> Click:
    """The few fields a click needs, pulled from the payload (Any stops here)."""
    user_id = payload.user_id(body)
    approval_id = str(payload.first_action(body).get("value", ""))[:64]
    if payload.container(body).get("type") == "view":
        return Click(approval_id, user_id, None, None, approving)
    message_ts = str(
        payload.as_dict(body.get("message")).get("ts")
        or payload.container(body).get("message_ts")
        or ""
    )
    return Click(approval_id, user_id, _channel(body), message_ts or None, approving)


async def _decide(
    ack: Any,
    body: dict[str, Any],
    respond: Any,
    decisions: Decisions,
    home: HomeTab,
    metrics: Metrics,
    approving: bool,
    work_slots: PostAckGate,
) -> None:
    await ack()
    click = _click(body, approving)
    from_home = _from_home(body)
    async with work_slots:
        try:
            note = await decisions.decide(click)
        except ApprovalError as exc:
            metrics.approval("refused")
            logger.info(
                "approval.refused",
                extra={
                    "approval_id": click.approval_id,
                    "slack_user": click.user_id,
                    "status": type(exc).__name__,
                },
            )
            note = str(exc)
        except Exception as exc:  # after ack(): reported here, see handlers.errors
            await report_unexpected(exc, None if from_home else respond)
            return
        try:
            if from_home:  # no response_url there: the Home tab shows what came of it
                await home.publish(click.user_id, note)
            elif note:
                await respond(text=note, response_type="ephemeral", replace_original=False)
        except Exception as exc:
            await report_unexpected(exc)


async def handle_approve(
    ack: Any,
    body: dict[str, Any],
    respond: Any,
    decisions: Decisions,
    home: HomeTab,
    metrics: Metrics,
    work_slots: PostAckGate,
) -> None:
    await _decide(ack, body, respond, decisions, home, metrics, True, work_slots)


async def handle_reject(
    ack: Any,
    body: dict[str, Any],
    respond: Any,
    decisions: Decisions,
    home: HomeTab,
    metrics: Metrics,
    work_slots: PostAckGate,
) -> None:
    await _decide(ack, body, respond, decisions, home, metrics, False, work_slots)


async def handle_pick_workflow(
    ack: Any,
    body: dict[str, Any],
    respond: Any,
    runner: CommandRunner,
    channels: Collection[str] | None,
    metrics: Metrics,
    work_slots: PostAckGate,
) -> None:
    """One of the workflow buttons a command answered with: go on with that command. The
    button's value is untrusted: it is parsed and checked like typed text."""
    await ack()
    user_id = payload.user_id(body)
    channel_id = _channel(body)
    parsed = parse_command(str(payload.first_action(body).get("value", ""))[:2000])
    if not isinstance(parsed, Cancel | Status | Watch) or parsed.workflow_id is None:
        metrics.command("pick", "invalid")
        await respond(
            text="That choice is not one the bot offered; run the command again.",
            response_type="ephemeral",
            replace_original=True,
        )
        return
    if not channel_allowed(channels, channel_id):
        metrics.command("pick", "channel_refused")
        await respond(text=NOT_HERE, response_type="ephemeral", replace_original=True)
        return
    try:
        await respond(
            text=f"Working on workflow `{parsed.workflow_id}`…",
            response_type="ephemeral",
            replace_original=True,
        )
    except Exception as exc:  # after ack(): reported here, see handlers.errors
        await report_unexpected(exc)
        return
    async with work_slots:
        await run_command(parsed, user_id, channel_id, respond, runner, metrics)


def register(app: Any) -> None:
    app.action(APPROVE_ACTION_ID)(handle_approve)
    app.action(REJECT_ACTION_ID)(handle_reject)
    app.action(PICK_WORKFLOW_ACTION_ID)(handle_pick_workflow)
