"""Sending the one cancel for an approved request, and settling requests a crash left behind.

pending → approved (quorum) → cancel_requested (claimed by exactly one sender, recorded before
the call) → cancelled | failed. A request found `approved` a while after its approval was never
sent: it is sent now (the claim stops a second sender). One found `cancel_requested` for longer
than a call can take may or may not have reached the API: a read of the workflow settles it, and
it is never sent twice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.approval.request_record import RequestRecord
from bot.cce.client import CCEClient
from bot.cce.endpoints import ClusterRef
from bot.cce.errors import CCECancelUnconfirmed, CCEError, CCEStatusError
from bot.cce.models import WorkflowPhase, WorkflowTask
from bot.cce.snapshots import snapshot
from bot.config import Config
from bot.domain.approvals import ApprovalState
from bot.domain.cancellability import cancellability
from bot.domain.snapshot import Snapshot
from bot.metrics import Metrics
from bot.slack.blocks import escape
from bot.slack.explain import describe_cce_error
from bot.slack.poster import SlackPostError
from bot.store import ApprovalRecord

__all__ = ["CancelSteps", "Cancelled", "OnCancelled"]

logger = logging.getLogger(__name__)

# The two recovery delays are `approval.settle_after` (longer than any cancel call can take,
# timeouts and the settling read included) and `approval.recover_unsent_after` in the config.
# A cancelled request older than this is not picked up for watching any more.
FOLLOW_UP_WITHIN = timedelta(hours=3)


ENDED_UNCANCELLED = (ApprovalState.FAILED, ApprovalState.REJECTED, ApprovalState.EXPIRED)


def _outcome_key(rec: ApprovalRecord) -> str:
    """The key the accepted cancel's reply carries, so the follow-up after a crash posts it once."""
    return f"{rec.approval_id}:outcome"


@dataclass(frozen=True)
class Cancelled:
    """Handed to the watcher once the API has accepted a cancel."""

    record: ApprovalRecord
    workflow: WorkflowTask


OnCancelled = Callable[[Cancelled], Awaitable[None]]


class CancelSteps(RequestRecord):
    """The cancel half of `CancelFlow`, which sets these attributes."""

    config: Config
    cce: CCEClient
    metrics: Metrics
    on_cancelled: OnCancelled | None

    async def execute(self, approval_id: str) -> None:
        """Re-read, then send the one cancel for an approved request and record the outcome."""
        rec = await self._get(approval_id)
        ref = ClusterRef(rec.project_id, rec.cluster_id, rec.endpoint)
        try:
            workflow = await self.cce.show_workflow(ref, rec.workflow_id)
        except CCEError as exc:
            await self._fail(
                rec,
                ApprovalState.APPROVED,
                "The workflow could not be re-read, so "
                f"no cancel was sent. {describe_cce_error(exc)}",
                exc.request_id,
            )
            self.metrics.cancel("not_sent")
            return
        verdict = cancellability(snapshot(workflow))
        if not verdict.cancellable:
            await self._fail(
                rec,
                ApprovalState.APPROVED,
                "The workflow is no longer cancellable, "
                f"so no cancel was sent. {escape(verdict.explain())}",
                None,
                snapshot(workflow),
            )
            self.metrics.cancel("not_sent")
            return
        claimed = await self.store.transition(
            approval_id,
            ApprovalState.APPROVED,
            ApprovalState.CANCEL_REQUESTED,
            cancel_sent_at=self.clock(),
        )
        if not claimed:
            return  # another sender (replica, or the recovery job) has it
        await self._audit(rec, "bot", "cancel.sent")
        try:
            outcome = await self.cce.cancel_workflow(ref, rec.workflow_id)
        except CCEError as exc:
            self.metrics.cancel(_cancel_result(exc))
            await self._fail(
                rec, ApprovalState.CANCEL_REQUESTED, describe_cce_error(exc), exc.request_id
            )
            return
        self.metrics.cancel("accepted")
        note = _cancelled_note(rec, outcome.workflow, outcome.request_id, outcome.confirmed_by_read)
        await self._succeed(
            rec,
            outcome.workflow,
            outcome.request_id,
            note,
            confirmed_by_read=outcome.confirmed_by_read,
        )

    async def recover(self) -> int:
        """Settle requests a crash left unposted, `approved` or `cancel_requested`."""
        now = self.clock()
        unsent_after = self.config.bot.approval.recover_unsent_after
        settle_after = self.config.bot.approval.settle_after
        settled = 0
        for rec in await self.store.requests_in_state(ApprovalState.PENDING):
            if rec.message_ts is None and now - rec.created_at >= unsent_after:
                settled += await self._never_posted(rec, now)
        for rec in await self.store.requests_in_state(ApprovalState.APPROVED):
            if rec.decided_at is not None and now - rec.decided_at >= unsent_after:
                logger.warning("cancel.recover.unsent", extra={"approval_id": rec.approval_id})
                await self.execute(rec.approval_id)
                settled += 1
        recent = now - FOLLOW_UP_WITHIN
        for rec in await self.store.requests_in_state(ApprovalState.CANCELLED, since=recent):
            settled += await self._follow_up(rec, now)
        for rec in await self.store.unshown(ENDED_UNCANCELLED, recent):
            if now - (rec.decided_at or now) >= unsent_after:
                logger.warning("cancel.recover.show", extra={"approval_id": rec.approval_id})
                await self.show_outcome(rec, again=True)
                settled += 1
        for rec in await self.store.requests_in_state(ApprovalState.CANCEL_REQUESTED):
            sent = rec.cancel_sent_at or rec.decided_at
            if sent is not None and now - sent >= settle_after:
                logger.warning("cancel.recover.unconfirmed", extra={"approval_id": rec.approval_id})
                await self._settle_by_read(rec)
                settled += 1
        return settled

    async def _never_posted(self, rec: ApprovalRecord, now: datetime) -> bool:
        """Stopped between storing a request and recording its message: if Slack has the
        message (found by its metadata) the request goes on from there; if not, it is closed
        and the requester told."""
        found, _ = await self._find_posted(rec)
        if found is not None:
            return await self._adopt(rec, found)
        won = await self.store.transition(
            rec.approval_id,
            ApprovalState.PENDING,
            ApprovalState.FAILED,
            decided_at=now,
            outcome="never posted: the bot stopped before posting it",
        )
        if not won:
            return False
        await self._audit(rec, "bot", "request.post_failed", error="bot stopped before posting")
        try:
            await self.poster.ephemeral(
                rec.channel_id,
                rec.requester_id,
                f"Your request to cancel workflow `{rec.workflow_id}` was not posted because the "
                "bot restarted; nothing was sent to CCE. Run the command again.",
            )
        except SlackPostError:
            logger.warning("cancel.recover.notify_failed", extra={"approval_id": rec.approval_id})
        return True

    async def _adopt(self, rec: ApprovalRecord, ts: str) -> bool:
        """The request message was posted after all: record it and tell the requester."""
        if not await self.store.set_message_ts_if_unset(rec.approval_id, ts):
            return False
        logger.warning("cancel.recover.adopted", extra={"approval_id": rec.approval_id})
        await self._audit(rec, "bot", "request.opened", message_ts=ts, recovered=True)
        try:
            await self.poster.ephemeral(
                rec.channel_id,
                rec.requester_id,
                f"Your request to cancel workflow `{rec.workflow_id}` is posted (approval "
                f"`{rec.approval_id}`); the bot restarted while posting it. An approver must "
                "approve it before it expires.",
            )
        except SlackPostError:
            logger.warning("cancel.recover.notify_failed", extra={"approval_id": rec.approval_id})
        return True

    async def show_outcome(self, rec: ApprovalRecord, *, again: bool = False) -> None:
        """Show a request that ended without a cancel: its message re-rendered (no buttons)
        and, when it failed, the reason in its thread; then record that it was shown.

        `again`: the recovery job re-running this after a crash cut it short (the reply is
        looked for first). A refused update or reply is logged and not retried.
        """
        await self.refresh(rec.approval_id)
        if rec.state == ApprovalState.FAILED and rec.outcome:
            await self._reply(rec, rec.outcome, key=_outcome_key(rec), again=again)
        await self.store.mark_shown(rec.approval_id, self.clock())

    async def _follow_up(self, rec: ApprovalRecord, now: datetime) -> bool:
        """A cancel recorded as accepted whose follow-up a crash cut short: answer and watch.

        The watch row is the last step of a completed follow-up, so a cancelled request without
        one (and recent enough to still be worth watching) is finished here.
        """
        sent = rec.cancel_sent_at or rec.decided_at
        unsent_after = self.config.bot.approval.recover_unsent_after
        if self.on_cancelled is None or sent is None or now - sent < unsent_after:
            return False
        if now - sent > FOLLOW_UP_WITHIN or await self.store.has_watch_for_approval(
            rec.approval_id
        ):
            return False
        ref = ClusterRef(rec.project_id, rec.cluster_id, rec.endpoint)
        try:
            workflow = await self.cce.show_workflow(ref, rec.workflow_id)
        except CCEError:
            return False  # next housekeeping run
        logger.warning("cancel.recover.follow_up", extra={"approval_id": rec.approval_id})
        await self.refresh(rec.approval_id)
        if rec.outcome:
            await self._reply(rec, rec.outcome, key=_outcome_key(rec), again=True)
        await self.on_cancelled(Cancelled(rec, workflow))
        return True

    async def _settle_by_read(self, rec: ApprovalRecord) -> None:
        ref = ClusterRef(rec.project_id, rec.cluster_id, rec.endpoint)
        try:
            workflow = await self.cce.show_workflow(ref, rec.workflow_id)
        except CCEError:
            return  # try again at the next housekeeping run
        phase = workflow.status.phase or "?"
        if phase.lower() == WorkflowPhase.CANCEL.lower():
            note = _cancelled_note(rec, workflow, None, True)
            await self._succeed(rec, workflow, None, note, confirmed_by_read=True)
            return
        await self._fail(
            rec,
            ApprovalState.CANCEL_REQUESTED,
            "The bot stopped while the cancel was being sent, and the workflow is "
            f"in phase {escape(phase)}, not Cancel. It was not sent again; run "
            "`/cce-upgrade status` and open a new request if it is still needed.",
            None,
            snapshot(workflow),
        )

    async def _succeed(
        self,
        rec: ApprovalRecord,
        workflow: WorkflowTask,
        request_id: str | None,
        note: str,
        *,
        confirmed_by_read: bool,
    ) -> None:
        snap = snapshot(workflow)
        won = await self.store.transition(
            rec.approval_id,
            ApprovalState.CANCEL_REQUESTED,
            ApprovalState.CANCELLED,
            cancel_request_id=request_id,
            outcome=note,
            summary=ApprovalRecord.summary_json(snap.to_dict()),
        )
        if not won:
            return
        await self._audit(
            rec,
            "bot",
            "cancel.accepted",
            request_id=request_id,
            phase=snap.phase,
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
        await self.refresh(rec.approval_id)
        await self._reply(rec, note, key=_outcome_key(rec))
        if self.on_cancelled is not None:
            latest = await self._get(rec.approval_id)
            await self.on_cancelled(Cancelled(latest, workflow))

    async def _fail(
        self,
        rec: ApprovalRecord,
        expected: str,
        text: str,
        request_id: str | None,
        snap: Snapshot | None = None,
    ) -> None:
        values = {"summary": ApprovalRecord.summary_json(snap.to_dict())} if snap else {}
        won = await self.store.transition(
            rec.approval_id,
            expected,
            ApprovalState.FAILED,
            outcome=f":warning: {text}",
            cancel_request_id=request_id,
            **values,
        )
        if not won:
            return
        await self._audit(rec, "bot", "cancel.failed", request_id=request_id, detail_text=text)
        await self.show_outcome(await self._get(rec.approval_id))


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
