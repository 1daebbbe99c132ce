"""What a command is about: the cluster a person named (through the `ClusterDirectory`: alias,
name, then id) and, when the workflow was left out, the cluster's open workflows (SPEC §2).

Lookup failures become `FlowError`s whose message is a plain sentence for the requester:
unknown (with the names known), ambiguous (with both ids), or a project that could not be
listed. Used by the command runner and the cancel modal.
"""

from __future__ import annotations

import logging

from bot.approval.errors import FlowError
from bot.cce.client import CCEClient
from bot.cce.clusters import ClusterDirectory, ClusterListing, ClusterLookupError, FoundCluster
from bot.cce.errors import CCEError
from bot.cce.snapshots import snapshot
from bot.domain.ids import InvalidID, validate_workflow_id
from bot.domain.workflows import OpenWorkflow, is_open
from bot.slack.blocks import escape
from bot.slack.explain import describe_cce_error

__all__ = ["Targets"]

logger = logging.getLogger(__name__)


def _refusal(exc: ClusterLookupError) -> FlowError:
    text = str(exc)
    return FlowError(escape(text if text.endswith(".") else text + "."))


class Targets:
    def __init__(self, *, directory: ClusterDirectory, cce: CCEClient) -> None:
        self._directory = directory
        self._cce = cce

    def peek(self, text: str) -> FoundCluster | None:
        """The cluster without any I/O (inside Slack's 3 s), None when that cannot tell; raises
        `FlowError` for text that could never name a cluster."""
        try:
            return self._directory.peek(text)
        except ClusterLookupError as exc:
            raise _refusal(exc) from None

    async def cluster(self, text: str) -> FoundCluster:
        try:
            return await self._directory.resolve(text)
        except ClusterLookupError as exc:
            raise _refusal(exc) from None

    async def listing(self) -> ClusterListing:
        return await self._directory.clusters()

    async def suggest(self, typed: str, limit: int) -> list[FoundCluster]:
        return await self._directory.suggest(typed, limit)

    async def open_workflows(self, found: FoundCluster) -> list[OpenWorkflow]:
        """The cluster's workflows that have not settled, newest first."""
        try:
            workflows = await self._cce.list_workflows(found.ref)
        except CCEError as exc:
            raise FlowError(describe_cce_error(exc)) from None
        found_open = []
        for workflow in workflows:
            snap = snapshot(workflow)
            if not is_open(snap):
                continue
            try:
                workflow_id = validate_workflow_id(workflow.metadata.uid)
            except InvalidID:  # not an id we could put in a URL: not one we can act on
                logger.warning("cce.workflow.bad_id", extra={"cluster_id": found.cluster_id})
                continue
            found_open.append(OpenWorkflow(workflow_id, snap, workflow.metadata.creation_timestamp))
        return found_open
