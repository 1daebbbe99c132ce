"""Approve / Reject button clicks: ack at once, then let the flow decide; explain refusals."""

from __future__ import annotations

import logging
from typing import Any

from bot.approval.flow import CancelFlow
from bot.domain.approvals import ApprovalError
from bot.slack.blocks import APPROVE_ACTION_ID, REJECT_ACTION_ID
from bot.slack.door import PostAckGate
from handlers.errors import report_unexpected

__all__ = ["handle_approve", "handle_reject", "register"]

logger = logging.getLogger(__name__)


async def _decide(
    ack: Any,
    body: dict[str, Any],
    respond: Any,
    flow: CancelFlow,
    approving: bool,
    work_slots: PostAckGate,
) -> None:
    await ack()
    async with work_slots:
        await _decide_acked(body, respond, flow, approving)


async def _decide_acked(
    body: dict[str, Any], respond: Any, flow: CancelFlow, approving: bool
) -> None:
    user = body.get("user")
    user_id = str(user.get("id", "")) if isinstance(user, dict) else ""
    action = (body.get("actions") or [{}])[0]
    approval_id = str(action.get("value", ""))[:64] if isinstance(action, dict) else ""
    try:
        note = await flow.decide(approval_id, user_id, approving=approving)
    except ApprovalError as exc:
        flow.metrics.approval("refused")
        logger.info(
            "approval.refused",
            extra={"approval_id": approval_id, "slack_user": user_id, "status": type(exc).__name__},
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
    flow: CancelFlow,
    work_slots: PostAckGate,
) -> None:
    await _decide(ack, body, respond, flow, True, work_slots)


async def handle_reject(
    ack: Any,
    body: dict[str, Any],
    respond: Any,
    flow: CancelFlow,
    work_slots: PostAckGate,
) -> None:
    await _decide(ack, body, respond, flow, False, work_slots)


def register(app: Any) -> None:
    app.action(APPROVE_ACTION_ID)(handle_approve)
    app.action(REJECT_ACTION_ID)(handle_reject)
