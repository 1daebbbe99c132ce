"""Read-only commands: `status`, `list` and `clusters`. No approval needed, nothing stored."""

from __future__ import annotations

from typing import Any

from bot.approval.errors import FlowError
from bot.approval.targets import Targets
from bot.cce.client import CCEClient
from bot.cce.errors import CCEError
from bot.cce.found import FoundCluster
from bot.cce.snapshots import snapshot
from bot.domain.cancellability import cancellability
from bot.slack.blocks import list_message, status_message
from bot.slack.choices import api_time, clusters_message
from bot.slack.explain import describe_cce_error

__all__ = ["Queries"]


def _label(found: FoundCluster) -> str | None:
    return found.alias or found.name


class Queries:
    def __init__(self, *, cce: CCEClient, targets: Targets) -> None:
        self._cce = cce
        self._targets = targets

    async def status(
        self, found: FoundCluster, workflow_id: str
    ) -> tuple[str, list[dict[str, Any]]]:
        try:
            workflow = await self._cce.show_workflow(found.ref, workflow_id)
        except CCEError as exc:
            raise FlowError(describe_cce_error(exc)) from None
        snap = snapshot(workflow)
        return status_message(
            _label(found), found.cluster_id, workflow_id, snap, cancellability(snap)
        )

    async def clusters(self) -> tuple[str, list[dict[str, Any]]]:
        """`clusters`: name, id, project, version and phase of each cluster the bot can see."""
        return clusters_message(await self._targets.listing())

    async def list(self, found: FoundCluster) -> tuple[str, list[dict[str, Any]]]:
        try:
            workflows = await self._cce.list_workflows(found.ref)
        except CCEError as exc:
            raise FlowError(describe_cce_error(exc)) from None
        rows = [
            (w.metadata.uid or "?", snapshot(w), api_time(w.metadata.creation_timestamp))
            for w in workflows
        ]
        return list_message(_label(found), found.cluster_id, rows)
