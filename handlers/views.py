"""The cancel modal's listeners: cluster options (`block_suggestion`), a cluster chosen
(`block_actions` in the view), and the submission (`view_submission`). The modal part does the
work; the answers to options and submissions are the ack itself, within Slack's 3 s."""

from __future__ import annotations

import logging
from typing import Any

from bot.approval.modal import CancelModal
from bot.metrics import Metrics
from bot.slack.door import PostAckGate
from bot.slack.modal import CANCEL_MODAL_CALLBACK_ID, CLUSTER_ACTION_ID, CLUSTER_BLOCK_ID
from handlers import payload
from handlers.errors import report_unexpected

__all__ = ["handle_cluster_chosen", "handle_cluster_options", "handle_modal_submit", "register"]

logger = logging.getLogger(__name__)


async def handle_cluster_options(ack: Any, body: dict[str, Any], modal: CancelModal) -> None:
    """What was typed into the cluster select: answer with the matching clusters."""
    await ack(options=await modal.options(str(body.get("value") or "")))


async def handle_cluster_chosen(
    ack: Any, body: dict[str, Any], modal: CancelModal, work_slots: PostAckGate
) -> None:
    """A cluster was chosen: fill in its workflows (`views.update`)."""
    await ack()
    view = payload.as_dict(body.get("view"))
    value = payload.as_dict(payload.first_action(body).get("selected_option")).get("value")
    async with work_slots:
        try:
            await modal.chosen(
                str(view.get("id", "")),
                str(view.get("private_metadata", "")),
                value if isinstance(value, str) and value else None,
            )
        except Exception as exc:  # after ack(): reported here, see handlers.errors
            await report_unexpected(exc)


async def handle_modal_submit(
    ack: Any, body: dict[str, Any], view: dict[str, Any], modal: CancelModal, metrics: Metrics
) -> None:
    """Errors go back on the form's fields; otherwise the form closes (or says it is checking,
    when the check takes longer than Slack waits)."""
    user_id = payload.user_id(body)
    try:
        submitted = await modal.submit(user_id, payload.as_dict(view))
    except Exception as exc:  # the form stays open, saying so, rather than vanishing
        ref = await report_unexpected(exc)
        metrics.command("modal", "error")
        await ack(
            response_action="errors",
            errors={
                CLUSTER_BLOCK_ID: f"Something went wrong inside the bot (reference {ref}); "
                "nothing was posted. Try again, or use the command."
            },
        )
        return
    if submitted.errors:
        metrics.command("modal", "refused")
        await ack(response_action="errors", errors=submitted.errors)
        return
    if submitted.view is None:
        metrics.command("modal", "ok")
        await ack()
        return
    await ack(response_action="update", view=submitted.view)
    if submitted.later is not None:
        try:
            await submitted.later()
        except Exception as exc:  # after ack(): reported here, see handlers.errors
            await report_unexpected(exc)
    metrics.command("modal", "slow")


def register(app: Any) -> None:
    app.options(CLUSTER_ACTION_ID)(handle_cluster_options)
    app.action(CLUSTER_ACTION_ID)(handle_cluster_chosen)
    app.view(CANCEL_MODAL_CALLBACK_ID)(handle_modal_submit)
