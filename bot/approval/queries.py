"""Read-only commands: `status`, `list`, and starting a `watch`. No approval needed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from bot.approval.flow import CancelFlow, FlowError
from bot.cce.endpoints import ClusterRef
from bot.cce.errors import CCEError
from bot.cce.snapshots import snapshot
from bot.domain.cancellability import cancellability
from bot.slack.blocks import list_message, status_message
from bot.slack.explain import describe_cce_error

__all__ = ["Queries", "StartWatch"]

StartWatch = Callable[[str, str, str | None, ClusterRef, str], Awaitable[str]]
"""(user_id, channel_id, alias, cluster, workflow_id) → message for the user."""


def _when(value: datetime | str | None) -> str:
    """`2026-12-01 08:47 UTC` for a parsed time; text the API sent in another format as is."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return value or "?"


class Queries:
    def __init__(self, flow: CancelFlow, start_watch: StartWatch | None = None) -> None:
        self.flow = flow
        self.start_watch = start_watch

    async def status(self, cluster: str, workflow_id: str) -> tuple[str, list[dict[str, Any]]]:
        alias, ref = self.flow.resolve(cluster)
        workflow = await self.flow.read(ref, workflow_id)
        return status_message(
            alias,
            ref.cluster_id,
            workflow_id,
            snapshot(workflow),
            cancellability(snapshot(workflow)),
        )

    async def list(self, cluster: str) -> tuple[str, list[dict[str, Any]]]:
        alias, ref = self.flow.resolve(cluster)
        try:
            workflows = await self.flow.cce.list_workflows(ref)
        except CCEError as exc:
            raise FlowError(describe_cce_error(exc)) from None
        rows = [
            (
                w.metadata.uid or "?",
                snapshot(w),
                _when(w.metadata.creation_timestamp),
            )
            for w in workflows
        ]
        return list_message(alias, ref.cluster_id, rows)

    async def watch(self, user_id: str, channel_id: str, cluster: str, workflow_id: str) -> str:
        alias, ref = self.flow.resolve(cluster)
        if self.start_watch is None:
            return "Watching is not available yet in this version of the bot."
        return await self.start_watch(user_id, channel_id, alias, ref, workflow_id)
