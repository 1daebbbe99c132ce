"""Sending the one cancel for an approved request, and settling one whose answer was lost.

approved → cancel_requested (claimed by the lease holder, recorded before the call) →
cancelled | failed. The re-read and the cancel come first; the message's "sending it" state is
shown alongside, not before (a Slack round trip must not delay the cancel). An unanswered
cancel is settled by a read and never blindly sent again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from bot.approval.audit import RequestAudit
from bot.approval.errors import WorkStuck
from bot.approval.message import RequestMessage
from bot.cce.client import CCEClient
from bot.cce.endpoints import ClusterRef
from bot.cce.errors import CCECancelUnconfirmed, CCEError, CCEStatusError
from bot.cce.models import WorkflowPhase, WorkflowTask
from bot.cce.snapshots import snapshot
from bot.domain.approvals import ApprovalState
from bot.domain.cancellability import cancellability
from bot.domain.snapshot import Snapshot
from bot.metrics import Metrics
from bot.slack.blocks import escape
from bot.slack.explain import describe_cce_error
from bot.store.records import ApprovalRecord, Work
from bot.store.requests import RequestStore

__all__ = ["CancelSender", "cluster_of"]

logger = logging.getLogger(__name__)


def cluster_of(rec: ApprovalRecord) -> ClusterRef:
    return ClusterRef(rec.project_id, rec.cluster_id, rec.endpoint)


class CancelSender:
    def __init__(
        self,
        *,
        cce: CCEClient,
        requests: RequestStore,
        audit: RequestAudit,
        message: RequestMessage,
        owner: str,
        clock: Callable[[], datetime],
        metrics: Metrics,
    ) -> None:
        self._cce = cce
        self._requests = requests
        self._audit = audit
        self._message = message
        self._owner = owner
        self._clock = clock
        self._metrics = metrics

    async def send(self, rec: ApprovalRecord) -> None:
        """Re-read, then send the one cancel for an approved request and record the outcome."""
        ref = cluster_of(rec)
        try:
            workflow = await self._cce.show_workflow(ref, rec.workflow_id)
        except CCEError as exc:
            text = (
                "The workflow could not be re-read, so no cancel was sent. "
                f"{describe_cce_error(exc)}"
            )
            await self._fail(rec, ApprovalState.APPROVED, text, exc.request_id)
            self._metrics.cancel("not_sent")
            return
        snap = snapshot(workflow)
        verdict = cancellability(snap)
        if not verdict.cancellable:
            text = (
                "The workflow is no longer cancellable, so no cancel was sent. "
                f"{escape(verdict.explain())}"
            )
            await self._fail(rec, ApprovalState.APPROVED, text, None, snap)
            self._metrics.cancel("not_sent")
            return
        claimed = await self._requests.transition(
            rec.approval_id,
            ApprovalState.APPROVED,
            ApprovalState.CANCEL_REQUESTED,
            owner=self._owner,
            cancel_sent_at=self._clock(),
            work=Work.SETTLE,
        )
        if not claimed:
            return  # the lease moved on: its new holder settles it
        await self._audit.record(rec, "cancel.sent")
        showing = asyncio.create_task(self._message.show(rec.approval_id))  # alongside, cosmetic
        try:
            outcome = await self._cce.cancel_workflow(ref, rec.workflow_id)
        except CCEError as exc:
            self._metrics.cancel(_cancel_result(exc))
            text = describe_cce_error(exc)
            await self._fail(rec, ApprovalState.CANCEL_REQUESTED, text, exc.request_id)
        else:
            self._metrics.cancel("accepted")
            note = _cancelled_note(
                rec, outcome.workflow, outcome.request_id, outcome.confirmed_by_read
            )
            await self._succeed(
                rec, outcome.workflow, outcome.request_id, note, outcome.confirmed_by_read
            )
        finally:
            await showing

    async def settle(self, rec: ApprovalRecord) -> None:
        """The cancel was sent and its answer is unknown (its sender died): read the workflow.

        Phase Cancel means it worked; anything else means it did not arrive, and it is not sent
        again. A read that fails leaves the work for later (`WorkStuck`).
        """
        try:
            workflow = await self._cce.show_workflow(cluster_of(rec), rec.workflow_id)
        except CCEError as exc:
            raise WorkStuck(f"the workflow could not be read: {type(exc).__name__}") from exc
        phase = workflow.status.phase or "?"
        if phase.lower() == WorkflowPhase.CANCEL.lower():
            note = _cancelled_note(rec, workflow, None, True)
            await self._succeed(rec, workflow, None, note, True)
            return
        text = (
            "The bot stopped while the cancel was being sent, and the workflow is "
            f"in phase {escape(phase)}, not Cancel. It was not sent again; run "
            "`/cce-upgrade status` and open a new request if it is still needed."
        )
        await self._fail(rec, ApprovalState.CANCEL_REQUESTED, text, None, snapshot(workflow))

    async def _succeed(
        self,
        rec: ApprovalRecord,
        workflow: WorkflowTask,
        request_id: str | None,
        note: str,
        confirmed_by_read: bool,
    ) -> None:
        snap = snapshot(workflow).to_dict()
        won = await self._requests.transition(
            rec.approval_id,
            ApprovalState.CANCEL_REQUESTED,
            ApprovalState.CANCELLED,
            owner=self._owner,
            cancel_request_id=request_id,
            outcome=note,
            summary=snap,
            answer=snap,
            work=Work.FOLLOW_UP,
        )
        if not won:
            return
        await self._audit.record(
            rec,
            "cancel.accepted",
            request_id=request_id,
            phase=snap.get("phase"),
            confirmed_by_read=confirmed_by_read,
        )
        logger.info(
            "cce.cancel.accepted",
            extra={
                "approval_id": rec.approval_id,
                "request_id": request_id,
                "workflow_id": rec.workflow_id,
            },
        )

    async def _fail(
        self,
        rec: ApprovalRecord,
        expected: str,
        text: str,
        request_id: str | None,
        snap: Snapshot | None = None,
    ) -> None:
        values = {"summary": snap.to_dict()} if snap else {}
        won = await self._requests.transition(
            rec.approval_id,
            expected,
            ApprovalState.FAILED,
            owner=self._owner,
            outcome=f":warning: {text}",
            cancel_request_id=request_id,
            decided_at=rec.decided_at or self._clock(),
            work=Work.SHOW,
            **values,
        )
        if won:
            await self._audit.record(rec, "cancel.failed", request_id=request_id, detail_text=text)


def _cancelled_note(
    rec: ApprovalRecord, workflow: WorkflowTask, request_id: str | None, confirmed_by_read: bool
) -> str:
    by = ", ".join(f"<@{u}>" for u in rec.approved_by) or f"<@{rec.decided_by}>"
    phase = escape(workflow.status.phase or "?")
    note = f":octagonal_sign: Cancelled. Approved by {by}; the API answered phase *{phase}*"
    if request_id:
        note += f", request id `{escape(request_id)}`"
    if confirmed_by_read:
        note += " (its answer was lost; confirmed by reading the workflow)"
    return note + "."


def _cancel_result(exc: CCEError) -> str:
    if isinstance(exc, CCECancelUnconfirmed):
        return "unconfirmed"
    if isinstance(exc, CCEStatusError):
        return "refused"
    return "error"
