"""`/cce-upgrade …`: parse, ack within Slack's 3 s, then do the API work and answer.

The ack waits on no I/O: the cluster is looked up there only from aliases and a fresh cluster
list (`Targets.peek`); what that cannot tell is found after the ack. `/cce-upgrade` alone (or
`cancel` alone) opens the cancel modal: `views.open` is the first call made with its trigger.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

from bot.approval.errors import FlowError
from bot.approval.modal import CancelModal
from bot.approval.runner import CommandRunner, RunnableCommand
from bot.approval.targets import Targets
from bot.domain.approvals import channel_allowed
from bot.domain.commands import Clusters, Help, Invalid, OpenModal, parse_command
from bot.metrics import Metrics
from bot.slack.blocks import escape
from bot.slack.door import PostAckGate
from bot.slack.poster import SlackPostError
from bot.slack.usage import USAGE
from handlers.errors import report_unexpected

__all__ = ["COMMAND", "NOT_HERE", "handle_cce_upgrade", "register", "run_command"]

logger = logging.getLogger(__name__)
COMMAND = "/cce-upgrade"
NOT_HERE = (
    "`/cce-upgrade` is not enabled in this channel. Use one of the incident channels listed in "
    "the bot's config (`channels:`)."
)


async def handle_cce_upgrade(
    ack: Any,
    command: dict[str, Any],
    respond: Any,
    targets: Targets,
    runner: CommandRunner,
    modal: CancelModal,
    channels: Collection[str] | None,
    metrics: Metrics,
    work_slots: PostAckGate,
) -> None:
    user_id = str(command.get("user_id", ""))
    channel_id = str(command.get("channel_id", ""))
    parsed = parse_command(str(command.get("text", "")))
    kind = type(parsed).__name__.lower()
    if isinstance(parsed, Help):
        metrics.command(kind, "ok")
        await ack(text=USAGE)
        return
    if isinstance(parsed, Invalid):
        metrics.command(kind, "invalid")
        await ack(text=f"{parsed.problem}\n\n{USAGE}")
        return
    if not channel_allowed(channels, channel_id):
        metrics.command(kind, "channel_refused")
        await ack(text=NOT_HERE)
        return
    if isinstance(parsed, OpenModal):
        await ack()
        async with work_slots.urgent():  # slots of its own: the trigger id lasts 3 s
            await _open_modal(
                modal,
                trigger_id=str(command.get("trigger_id", "")),
                channel_id=channel_id,
                respond=respond,
                metrics=metrics,
            )
        return
    if isinstance(parsed, Clusters):
        await ack(text="Listing the clusters…")
    else:
        try:
            found = targets.peek(parsed.cluster)  # no I/O: aliases and a fresh list only
        except FlowError as exc:
            metrics.command(kind, "refused")
            await ack(text=str(exc))
            return
        await ack(text=f"Working on `{escape(found.label if found else parsed.cluster)}`…")
    async with work_slots:
        await run_command(parsed, user_id, channel_id, respond, runner, metrics)


async def _open_modal(
    modal: CancelModal, *, trigger_id: str, channel_id: str, respond: Any, metrics: Metrics
) -> None:
    try:
        await modal.open(trigger_id, channel_id)
    except SlackPostError as exc:
        metrics.command("openmodal", "error")
        await respond(
            text=f"The cancel form could not be opened (Slack said `{escape(exc.error)}`). Try "
            "again, or type `/cce-upgrade cancel <cluster> [reason…]`.",
            response_type="ephemeral",
        )
    except Exception as exc:  # after ack(): reported here, see handlers.errors
        metrics.command("openmodal", "error")
        await report_unexpected(exc, respond)
    else:
        metrics.command("openmodal", "ok")


async def run_command(
    parsed: RunnableCommand,
    user_id: str,
    channel_id: str,
    respond: Any,
    runner: CommandRunner,
    metrics: Metrics,
) -> None:
    """The slow part, after the ack: API reads, the store, the answer through response_url
    (replacing the "Working on…" note)."""
    kind = type(parsed).__name__.lower()
    try:
        reply = await runner.run(user_id, channel_id, parsed)
        await respond(
            text=reply.text,
            blocks=reply.blocks,
            response_type="ephemeral",
            replace_original=True,
        )
        metrics.command(kind, "ok")
    except FlowError as exc:
        metrics.command(kind, "refused")
        logger.info("command.refused", extra={"slack_user": user_id, "status": str(exc)[:200]})
        await respond(text=str(exc), response_type="ephemeral", replace_original=True)
    except Exception as exc:  # after ack(): reported here, see handlers.errors
        metrics.command(kind, "error")
        await report_unexpected(exc, respond)


def register(app: Any) -> None:
    app.command(COMMAND)(handle_cce_upgrade)
