"""`/cce-upgrade …`: parse, ack within Slack's 3 s, then do the API work and answer."""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

from bot.approval.clusters import ConfigClusters
from bot.approval.errors import FlowError
from bot.approval.opening import Opening
from bot.approval.queries import Queries
from bot.domain.approvals import channel_allowed
from bot.domain.commands import (
    Cancel,
    Command,
    Help,
    Invalid,
    ListWorkflows,
    Status,
    Watch,
    parse_command,
)
from bot.metrics import Metrics
from bot.slack.blocks import escape
from bot.slack.door import PostAckGate
from bot.slack.usage import USAGE
from bot.watch.starting import Watching
from handlers.errors import report_unexpected

__all__ = ["COMMAND", "handle_cce_upgrade", "register"]

logger = logging.getLogger(__name__)
COMMAND = "/cce-upgrade"


async def handle_cce_upgrade(
    ack: Any,
    command: dict[str, Any],
    respond: Any,
    clusters: ConfigClusters,
    opening: Opening,
    queries: Queries,
    watching: Watching,
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
        await ack(
            text="`/cce-upgrade` is not enabled in this channel. Use one of the incident "
            "channels listed in the bot's config (`channels:`)."
        )
        return
    try:
        clusters.peek(parsed.cluster)  # no I/O: an unknown cluster is answered in the ack
    except FlowError as exc:
        metrics.command(kind, "refused")
        await ack(text=str(exc))
        return
    await ack(text=f"Working on `{escape(parsed.cluster)}`…")
    async with work_slots:
        await _work(parsed, user_id, channel_id, respond, opening, queries, watching, metrics, kind)


async def _work(
    parsed: Command,
    user_id: str,
    channel_id: str,
    respond: Any,
    opening: Opening,
    queries: Queries,
    watching: Watching,
    metrics: Metrics,
    kind: str,
) -> None:
    """The slow part, after the ack: API reads, the store, the answer through response_url."""
    try:
        if isinstance(parsed, Cancel):
            reply = await opening.open(user_id, channel_id, parsed)
            await respond(text=reply, response_type="ephemeral", replace_original=True)
        elif isinstance(parsed, Status):
            text, blocks = await queries.status(parsed.cluster, parsed.workflow_id)
            await respond(
                text=text, blocks=blocks, response_type="ephemeral", replace_original=True
            )
        elif isinstance(parsed, ListWorkflows):
            text, blocks = await queries.list(parsed.cluster)
            await respond(
                text=text, blocks=blocks, response_type="ephemeral", replace_original=True
            )
        elif isinstance(parsed, Watch):
            reply = await watching.start(user_id, channel_id, parsed.cluster, parsed.workflow_id)
            await respond(text=reply, response_type="ephemeral", replace_original=True)
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
