"""Read-only commands: `status` and `list`. No approval needed, nothing stored."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.approval.clusters import ConfigClusters
from bot.approval.errors import FlowError
from bot.cce.client import CCEClient
from bot.cce.errors import CCEError
from bot.cce.snapshots import snapshot
from bot.domain.cancellability import cancellability
from bot.slack.blocks import list_message, status_message
from bot.slack.explain import describe_cce_error

__all__ = ["Queries"]


def _when(value: datetime | str | None) -> str:
    """`2026-12-01 08:47 UTC` for a parsed time; text the API sent in another format as is."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return value or "?"


class Queries:
    def __init__(self, *, cce: CCEClient, clusters: ConfigClusters) -> None:
        self._cce = cce
        self._clusters = clusters

    async def status(self, cluster: str, workflow_id: str) -> tuple[str, list[dict[str, Any]]]:
        alias, ref = await self._clusters.resolve(cluster)
        try:
            workflow = await self._cce.show_workflow(ref, workflow_id)
        except CCEError as exc:
            raise FlowError(describe_cce_error(exc)) from None
        snap = snapshot(workflow)
        return status_message(alias, ref.cluster_id, workflow_id, snap, cancellability(snap))

    async def list(self, cluster: str) -> tuple[str, list[dict[str, Any]]]:
        alias, ref = await self._clusters.resolve(cluster)
        try:
            workflows = await self._cce.list_workflows(ref)
        except CCEError as exc:
            raise FlowError(describe_cce_error(exc)) from None
        rows = [
            (w.metadata.uid or "?", snapshot(w), _when(w.metadata.creation_timestamp))
            for w in workflows
        ]
        return list_message(alias, ref.cluster_id, rows)
