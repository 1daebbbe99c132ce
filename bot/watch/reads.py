"""Reading many workflows with few API calls (SPEC §5: watches on one cluster may share a list).

Watches on one cluster that are due together are served by a single list call
(`GET …/operation/upgradeworkflows`, whose items are full workflows); a workflow missing from
the list, or an item without a status, is read on its own. A cluster's list is also shared for a
moment with any other reader (the alerts job), and concurrent readers of one cluster wait for one
call rather than each making theirs. All reads are background reads for the request budget.

Items stay JSON until someone wants them: a list answers for every workflow of the cluster, and
validating all of them was a third of the watcher's CPU. Each read carries a digest of the
workflow as the API sent it, so a reader can tell "nothing changed" without validating it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from bot.cce.client import CCEClient
from bot.cce.endpoints import ClusterRef
from bot.cce.errors import CCEError, CCENotFound, CCEResponseInvalid
from bot.cce.models import WorkflowTask

__all__ = ["ClusterReads", "Read", "Workflow"]

SHARE_FOR = timedelta(seconds=1)  # how long a cluster's list answers other readers, too


@dataclass(frozen=True)
class Workflow:
    """A workflow as just read: validated on demand; `digest` is the same when nothing in the
    API's answer for it changed."""

    raw: dict[str, Any]
    digest: str
    model: WorkflowTask | None = None  # already validated (a show call's answer)

    def parsed(self) -> WorkflowTask:
        """The wire model (raises `CCEResponseInvalid` for an item that is not a workflow)."""
        if self.model is not None:
            return self.model
        try:
            return WorkflowTask.model_validate(self.raw)
        except ValidationError as exc:
            raise CCEResponseInvalid(
                "a listed workflow is not a valid WorkflowTask", status=200, request_id=None
            ) from exc


Read = Workflow | CCEError
"""A workflow as read, or why it could not be."""


def _workflow(raw: dict[str, Any], model: WorkflowTask | None = None) -> Workflow:
    text = json.dumps(raw, sort_keys=True, separators=(",", ":"), default=str)
    return Workflow(raw, hashlib.blake2b(text.encode(), digest_size=12).hexdigest(), model)


@dataclass
class _Listing:
    at: datetime
    task: asyncio.Task[list[dict[str, Any]]]


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

    async def workflows(self, ref: ClusterRef) -> list[WorkflowTask]:
        """Every workflow of the cluster, validated (the alerts look at all of them); an item
        that is not a workflow is left out."""
        out = []
        for raw in await self._items(ref):
            try:
                out.append(WorkflowTask.model_validate(raw))
            except ValidationError:
                continue
        return out

    async def _items(self, ref: ClusterRef) -> list[dict[str, Any]]:
        """The cluster's list, shared with other readers for a moment."""
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

    async def _list(self, ref: ClusterRef) -> list[dict[str, Any]]:
        async with self._limit:
            return await self._cce.list_workflow_items(ref, background=True)

    async def _cluster(
        self, ref: ClusterRef, workflow_ids: list[str], found: dict[str, Read]
    ) -> None:
        alone = list(workflow_ids)
        if len(workflow_ids) > 1:
            try:
                items = {_uid(raw): raw for raw in await self._items(ref)}
            except CCENotFound:
                items = {}  # the cluster is gone: each read on its own says what is gone
            except CCEError as exc:
                for workflow_id in workflow_ids:
                    found[workflow_id] = exc
                return
            alone = []
            for workflow_id in workflow_ids:
                raw = items.get(workflow_id)
                if raw is None or not _has_status(raw):
                    alone.append(workflow_id)
                else:
                    found[workflow_id] = _workflow(raw)
        async with asyncio.TaskGroup() as group:
            for workflow_id in alone:
                group.create_task(self._show(ref, workflow_id, found))

    async def _show(self, ref: ClusterRef, workflow_id: str, found: dict[str, Read]) -> None:
        async with self._limit:
            try:
                read = await self._cce.show_workflow(ref, workflow_id, background=True)
                found[workflow_id] = _workflow(read.model_dump(mode="json", by_alias=True), read)
            except CCEError as exc:
                found[workflow_id] = exc


def _uid(raw: dict[str, Any]) -> str | None:
    metadata = raw.get("metadata")
    uid = metadata.get("uid") if isinstance(metadata, dict) else None
    return uid.lower() if isinstance(uid, str) else None


def _has_status(raw: dict[str, Any]) -> bool:
    """Whether a list item carries the workflow's status (the live service may leave it out)."""
    status = raw.get("status")
    return isinstance(status, dict) and bool(status.get("phase") or status.get("pointStatuses"))
