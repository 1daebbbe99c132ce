"""Reading many workflows with few API calls (SPEC §5: watches on one cluster may share a list).

Watches on one cluster that are due together are served by a single list call
(`GET …/operation/upgradeworkflows`, whose items are full workflows); a workflow missing from
the list, or an item without a status, is read on its own. A cluster's list is also shared for a
moment with any other reader (the alerts job), and concurrent readers of one cluster wait for one
call rather than each making theirs. All reads are background reads for the request budget.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.cce.client import CCEClient
from bot.cce.endpoints import ClusterRef
from bot.cce.errors import CCEError, CCENotFound
from bot.cce.models import WorkflowTask

__all__ = ["ClusterReads", "Read"]

Read = WorkflowTask | CCEError
"""A workflow as read, or why it could not be."""

SHARE_FOR = timedelta(seconds=1)  # how long a cluster's list answers other readers, too


@dataclass
class _Listing:
    at: datetime
    task: asyncio.Task[list[WorkflowTask]]


class ClusterReads:
    def __init__(
        self,
        cce: CCEClient,
        *,
        clock: Callable[[], datetime],
        concurrency: int = 20,
        share_for: timedelta = SHARE_FOR,
    ) -> None:
        self._cce = cce
        self._limit = asyncio.Semaphore(concurrency)
        self._share_for = share_for
        self._clock = clock
        self._listings: dict[tuple[str, str, str], _Listing] = {}

    async def read(self, wanted: Iterable[tuple[ClusterRef, str]]) -> dict[str, Read]:
        """Each wanted workflow (by id) as read now: one list call per cluster with two or more
        of them, a show call for a lone one and for what the list did not answer."""
        by_cluster: dict[ClusterRef, list[str]] = {}
        for ref, workflow_id in wanted:
            by_cluster.setdefault(ref, []).append(workflow_id)
        found: dict[str, Read] = {}
        async with asyncio.TaskGroup() as group:
            for ref, workflow_ids in by_cluster.items():
                group.create_task(self._cluster(ref, workflow_ids, found))
        return found

    async def listing(self, ref: ClusterRef) -> list[WorkflowTask]:
        """The cluster's workflows (newest first), shared with other readers for a moment."""
        key = (ref.endpoint, ref.project_id, ref.cluster_id)
        now = self._clock()
        shared = self._listings.get(key)
        if shared is None or now - shared.at > self._share_for:
            if len(self._listings) > 1000:  # forget old listings; they are re-read on demand
                self._listings = {
                    k: v for k, v in self._listings.items() if now - v.at <= self._share_for
                }
            shared = _Listing(now, asyncio.ensure_future(self._list(ref)))
            self._listings[key] = shared
        return await asyncio.shield(shared.task)

    async def _list(self, ref: ClusterRef) -> list[WorkflowTask]:
        async with self._limit:
            return await self._cce.list_workflows(ref, background=True)

    async def _cluster(
        self, ref: ClusterRef, workflow_ids: list[str], found: dict[str, Read]
    ) -> None:
        alone = list(workflow_ids)
        if len(workflow_ids) > 1:
            try:
                items = {w.workflow_id: w for w in await self.listing(ref)}
            except CCENotFound:
                items = {}  # the cluster is gone: each read on its own says what is gone
            except CCEError as exc:
                for workflow_id in workflow_ids:
                    found[workflow_id] = exc
                return
            alone = []
            for workflow_id in workflow_ids:
                item = items.get(workflow_id)
                if item is None or not _has_status(item):
                    alone.append(workflow_id)
                else:
                    found[workflow_id] = item
        async with asyncio.TaskGroup() as group:
            for workflow_id in alone:
                group.create_task(self._show(ref, workflow_id, found))

    async def _show(self, ref: ClusterRef, workflow_id: str, found: dict[str, Read]) -> None:
        async with self._limit:
            try:
                found[workflow_id] = await self._cce.show_workflow(
                    ref, workflow_id, background=True
                )
            except CCEError as exc:
                found[workflow_id] = exc


def _has_status(item: WorkflowTask) -> bool:
    """Whether a list item carries the workflow's status (the live service may leave it out)."""
    status = item.status
    return bool(status.phase) or bool(status.point_statuses)
