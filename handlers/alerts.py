"""An alert's Watch button: ack at once, then start a watch in the alert's thread."""

from __future__ import annotations

import logging
from typing import Any

from bot.approval.errors import FlowError
from bot.approval.targets import Targets
from bot.slack.alerts import ALERT_WATCH_ACTION_ID, parse_target
from bot.slack.door import PostAckGate
from bot.watch.starting import Watching
from handlers.errors import report_unexpected

__all__ = ["handle_alert_watch", "register"]

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
    action = (body.get("actions") or [{}])[0]
    target = parse_target(action.get("value") if isinstance(action, dict) else None)
    user = body.get("user")
    user_id = str(user.get("id", "")) if isinstance(user, dict) else ""
    container = body.get("container")
    channel_id = str(container.get("channel_id", "")) if isinstance(container, dict) else ""
    thread_ts = str(container.get("message_ts", "")) if isinstance(container, dict) else ""
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


def register(app: Any) -> None:
    app.action(ALERT_WATCH_ACTION_ID)(handle_alert_watch)
