"""An alert's two buttons: Request cancel… opens the cancel modal filled in with the alert's
cluster and workflow; Watch starts a watch in the alert's thread. Both ack at once."""

from __future__ import annotations

import logging
from typing import Any

from bot.approval.errors import FlowError
from bot.approval.modal import CancelModal
from bot.approval.targets import Targets
from bot.slack.alerts import ALERT_CANCEL_ACTION_ID, ALERT_WATCH_ACTION_ID, parse_target
from bot.slack.blocks import escape
from bot.slack.door import PostAckGate
from bot.slack.poster import SlackPostError
from bot.watch.starting import Watching
from handlers import payload
from handlers.errors import report_unexpected

__all__ = ["handle_alert_request_cancel", "handle_alert_watch", "register"]

logger = logging.getLogger(__name__)


async def handle_alert_watch(
    ack: Any,
    body: dict[str, Any],
    respond: Any,
    targets: Targets,
    watching: Watching,
    work_slots: PostAckGate,
) -> None:
    await ack()
    target = parse_target(payload.first_action(body).get("value"))
    user_id = payload.user_id(body)
    channel_id = str(payload.container(body).get("channel_id", ""))
    thread_ts = str(payload.container(body).get("message_ts", ""))
    if target is None or not channel_id or not thread_ts:
        await respond(
            text="That button does not carry a workflow the bot can read; nothing was started.",
            response_type="ephemeral",
            replace_original=False,
        )
        return
    async with work_slots:
        try:
            found = await targets.cluster(target.cluster_id)
            note = await watching.start(
                user_id, channel_id, found, target.workflow_id, thread_ts=thread_ts
            )
        except FlowError as exc:
            note = str(exc)
        except Exception as exc:  # after ack(): reported here, see handlers.errors
            await report_unexpected(exc, respond)
            return
        await respond(text=note, response_type="ephemeral", replace_original=False)


async def handle_alert_request_cancel(
    ack: Any, body: dict[str, Any], respond: Any, modal: CancelModal, work_slots: PostAckGate
) -> None:
    await ack()
    target = parse_target(payload.first_action(body).get("value"))
    channel_id = str(payload.container(body).get("channel_id", ""))
    trigger_id = str(body.get("trigger_id", ""))
    if target is None or not channel_id or not trigger_id:
        await respond(
            text="That button does not carry a workflow the bot can read; nothing was opened.",
            response_type="ephemeral",
            replace_original=False,
        )
        return
    async with work_slots.urgent():  # slots of its own: the trigger id lasts 3 s
        try:
            await modal.open(
                trigger_id, channel_id, cluster=target.cluster_id, workflow_id=target.workflow_id
            )
        except SlackPostError as exc:
            await respond(
                text=f"The cancel form could not be opened (Slack said `{escape(exc.error)}`). "
                f"Try again, or type `/cce-upgrade cancel {target.cluster_id} "
                f"{target.workflow_id} <reason>`.",
                response_type="ephemeral",
                replace_original=False,
            )
        except Exception as exc:  # after ack(): reported here, see handlers.errors
            await report_unexpected(exc, respond)


def register(app: Any) -> None:
    app.action(ALERT_CANCEL_ACTION_ID)(handle_alert_request_cancel)
    app.action(ALERT_WATCH_ACTION_ID)(handle_alert_watch)
