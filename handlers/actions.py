"""Approve / Reject button clicks: ack at once, then let the decisions part decide; explain
refusals to the clicker."""

from __future__ import annotations

import logging
from typing import Any

from bot.approval.decisions import Click, Decisions
from bot.domain.approvals import ApprovalError
from bot.metrics import Metrics
from bot.slack.blocks import APPROVE_ACTION_ID, REJECT_ACTION_ID
from bot.slack.door import PostAckGate
from handlers.errors import report_unexpected

__all__ = ["handle_approve", "handle_reject", "register"]

logger = logging.getLogger(__name__)


def _click(body: dict[str, Any], approving: bool) -> Click:
    """The few fields a click needs, pulled from the payload (Any stops here)."""
    user = body.get("user")
    user_id = str(user.get("id", "")) if isinstance(user, dict) else ""
    action = (body.get("actions") or [{}])[0]
    approval_id = str(action.get("value", ""))[:64] if isinstance(action, dict) else ""
    channel = body.get("channel")
    container = body.get("container")
    channel_id = str(channel.get("id", "")) if isinstance(channel, dict) else ""
    if not channel_id and isinstance(container, dict):
        channel_id = str(container.get("channel_id", ""))
    message = body.get("message")
    message_ts = str(message.get("ts", "")) if isinstance(message, dict) else ""
    if not message_ts and isinstance(container, dict):
        message_ts = str(container.get("message_ts", ""))
    return Click(approval_id, user_id, channel_id, message_ts or None, approving)


async def _decide(
    ack: Any,
    body: dict[str, Any],
    respond: Any,
    decisions: Decisions,
    metrics: Metrics,
    approving: bool,
    work_slots: PostAckGate,
) -> None:
    await ack()
    click = _click(body, approving)
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
            await report_unexpected(exc, respond)
            return
        if note:
            try:
                await respond(text=note, response_type="ephemeral", replace_original=False)
            except Exception as exc:
                await report_unexpected(exc)


async def handle_approve(
    ack: Any,
    body: dict[str, Any],
    respond: Any,
    decisions: Decisions,
    metrics: Metrics,
    work_slots: PostAckGate,
) -> None:
    await _decide(ack, body, respond, decisions, metrics, True, work_slots)


async def handle_reject(
    ack: Any,
    body: dict[str, Any],
    respond: Any,
    decisions: Decisions,
    metrics: Metrics,
    work_slots: PostAckGate,
) -> None:
    await _decide(ack, body, respond, decisions, metrics, False, work_slots)


def register(app: Any) -> None:
    app.action(APPROVE_ACTION_ID)(handle_approve)
    app.action(REJECT_ACTION_ID)(handle_reject)
