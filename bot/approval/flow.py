"""The cancel-with-approval use case (SPEC §3): open a request, decide on it, send the cancel.

It ties the domain (approvals, cancellability) to the store, the CCE client and a `Poster`.
Handlers call it and show what it returns; it never sees a Slack payload.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any

from bot.approval.cancelling import Cancelled, CancelSteps, OnCancelled
from bot.approval.request_record import view_of
from bot.cce.client import CCEClient
from bot.cce.endpoints import ClusterRef
from bot.cce.errors import CCEError
from bot.cce.models import WorkflowTask
from bot.cce.snapshots import snapshot
from bot.config import Config
from bot.domain.approvals import (
    AlreadyDecided,
    ApprovalError,
    ApprovalPolicy,
    ApprovalState,
    UnknownApproval,
    check_decider,
)
from bot.domain.cancellability import cancellability
from bot.domain.commands import Cancel
from bot.metrics import Metrics
from bot.slack.blocks import escape, request_message, slack_date
from bot.slack.directory import ApproverDirectory
from bot.slack.explain import describe_cce_error
from bot.slack.poster import Poster, SlackPostError, SlackPostUncertain
from bot.store import ApprovalRecord, NewApproval, Store

__all__ = ["CancelFlow", "Cancelled", "FlowError"]

logger = logging.getLogger(__name__)


class FlowError(Exception):
    """An expected refusal with a message for the user (never a traceback)."""


class CancelFlow(CancelSteps):
    def __init__(
        self,
        *,
        config: Config,
        cce: CCEClient,
        store: Store,
        poster: Poster,
        directory: ApproverDirectory,
        clock: Callable[[], datetime],
        on_cancelled: OnCancelled | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.config = config
        self.cce = cce
        self.store = store
        self.poster = poster
        self.directory = directory
        self.clock = clock
        self.on_cancelled = on_cancelled
        self.metrics = metrics or Metrics()
        bot = config.bot
        self.policy = ApprovalPolicy(
            approver_users=frozenset(bot.approvers.users),
            required=bot.approval.required,
            allow_self_approval=bot.approval.allow_self_approval,
            expires_after=bot.approval.expires_after,
        )

    def channel_allowed(self, channel_id: str) -> bool:
        allowed = self.config.bot.channels
        return allowed is None or channel_id in allowed

    def resolve(self, cluster: str) -> tuple[str | None, ClusterRef]:
        try:
            return self.config.cluster(cluster)
        except LookupError as exc:
            raise FlowError(f"{escape(str(exc.args[0]))}.") from None

    async def read(self, ref: ClusterRef, workflow_id: str) -> WorkflowTask:
        try:
            return await self.cce.show_workflow(ref, workflow_id)
        except CCEError as exc:
            raise FlowError(describe_cce_error(exc)) from None

    # -- opening a request ------------------------------------------------------------------

    async def open_request(self, user_id: str, channel_id: str, cmd: Cancel) -> str:
        """Pre-check, store and post the request; return what to tell the requester."""
        alias, ref = self.resolve(cmd.cluster)
        workflow = await self.read(ref, cmd.workflow_id)
        verdict = cancellability(snapshot(workflow))
        now = self.clock()
        if not verdict.cancellable:
            await self.store.audit(
                at=now,
                actor=user_id,
                action="request.refused",
                cluster_id=ref.cluster_id,
                workflow_id=cmd.workflow_id,
                reasons=[b.message for b in verdict.blockers],
            )
            raise FlowError(
                f"Workflow `{cmd.workflow_id}` cannot be cancelled now, so no request was "
                f"opened. {escape(verdict.explain())}"
            )
        approval_id = "req-" + secrets.token_hex(6)
        new = NewApproval(
            approval_id=approval_id,
            cluster_alias=alias,
            project_id=ref.project_id,
            cluster_id=ref.cluster_id,
            endpoint=ref.endpoint,
            workflow_id=cmd.workflow_id,
            requester_id=user_id,
            channel_id=channel_id,
            reason=cmd.reason,
            required=self.policy.required,
            created_at=now,
            expires_at=now + self.policy.expires_after,
            summary=snapshot(workflow).to_dict(),
        )
        await self.store.create_request(new)
        rec = await self._get(approval_id)
        text, blocks = request_message(view_of(rec))
        try:
            ts = await self._post_request(rec, text, blocks)
        except SlackPostError as exc:
            fix = exc.fix or f"Slack refused the message (`{exc.error}`)."
            await self._close_unposted(rec, now, exc.error)
            raise FlowError(f"{fix} No request was left open.") from None
        except SlackPostUncertain:
            await self._close_unposted(rec, now, "Slack did not answer")
            raise FlowError(
                "Slack did not answer while the request was being posted, so it was closed and "
                "nothing was sent to CCE (if it shows up in the channel, its buttons do nothing). "
                "Run the command again."
            ) from None
        await self.store.set_message_ts(approval_id, ts)
        await self._audit(rec, user_id, "request.opened", reason=cmd.reason, message_ts=ts)
        logger.info(
            "approval.opened", extra={"approval_id": approval_id, "workflow_id": cmd.workflow_id}
        )
        return (
            f"Approval request `{approval_id}` posted. An approver must approve it before "
            f"{slack_date(new.expires_at)}."
        )

    async def _close_unposted(self, rec: ApprovalRecord, now: datetime, error: str) -> None:
        """The request message could not be posted: the request ends here, failed."""
        await self.store.transition(
            rec.approval_id,
            ApprovalState.PENDING,
            ApprovalState.FAILED,
            outcome=f"could not post the request: {error}",
            decided_at=now,
        )
        await self._audit(rec, "bot", "request.post_failed", error=error)

    async def _post_request(
        self, rec: ApprovalRecord, text: str, blocks: list[dict[str, Any]]
    ) -> str:
        """Post the request message under its approval id, so a lost answer can be settled.

        The answer lost (dropped connection, timeout): if the message is in the channel it is
        adopted; if it surely is not, it is posted once more; if that can't be told (no history
        scope), `SlackPostUncertain` is raised and the request is closed.
        """
        try:
            return await self.poster.post(rec.channel_id, text, blocks, key=rec.approval_id)
        except SlackPostUncertain:
            found, verified = await self._find_posted(rec)
            if found is not None:
                return found
            if not verified:
                raise
        return await self.poster.post(rec.channel_id, text, blocks, key=rec.approval_id)

    # -- deciding ---------------------------------------------------------------------------

    async def decide(self, approval_id: str, user_id: str, *, approving: bool) -> str | None:
        """Apply one click. Returns an ephemeral note for the clicker, or None."""
        rec = await self.store.get_request(approval_id)
        if rec is None:
            raise UnknownApproval()
        now = self.clock()
        if rec.state == ApprovalState.PENDING and now >= rec.expires_at:
            await self.expire(rec.approval_id)
            rec = await self._get(approval_id)
        check_decider(
            policy=self.policy,
            user_id=user_id,
            requester_id=rec.requester_id,
            is_approver=await self.directory.is_approver(user_id),
            approving=approving,
            state=rec.state,
            decided_by=rec.decided_by,
            expires_at=rec.expires_at,
            now=now,
            approved_by=rec.approved_by,
        )
        if not approving:
            return await self._reject(rec, user_id, now)
        count = await self.store.add_approval(approval_id, user_id, now)
        if count is None:
            return None  # a duplicate click: this user's approval is already recorded
        await self._audit(rec, user_id, "approval.given", count=count)
        if count < rec.required:
            await self.refresh(approval_id)
            return f"Approval recorded ({count} of {rec.required}); waiting for another approver."
        won = await self.store.transition(
            approval_id,
            ApprovalState.PENDING,
            ApprovalState.APPROVED,
            decided_by=user_id,
            decided_at=now,
        )
        if not won:
            latest = await self._get(approval_id)
            raise AlreadyDecided(latest.state, latest.decided_by)
        await self._audit(rec, user_id, "approval.approved")
        self.metrics.approval("approved")
        await self.refresh(approval_id)
        await self.execute(approval_id)
        return None

    async def _reject(self, rec: ApprovalRecord, user_id: str, now: datetime) -> str | None:
        won = await self.store.transition(
            rec.approval_id,
            ApprovalState.PENDING,
            ApprovalState.REJECTED,
            decided_by=user_id,
            decided_at=now,
            outcome=f"Rejected by <@{user_id}>.",
        )
        if not won:
            latest = await self._get(rec.approval_id)
            raise AlreadyDecided(latest.state, latest.decided_by)
        await self._audit(rec, user_id, "approval.rejected")
        self.metrics.approval("rejected")
        await self.show_outcome(await self._get(rec.approval_id))
        return None

    async def expire(self, approval_id: str) -> bool:
        rec = await self._get(approval_id)
        won = await self.store.transition(
            approval_id,
            ApprovalState.PENDING,
            ApprovalState.EXPIRED,
            decided_at=self.clock(),
            outcome="Expired without enough approvals.",
        )
        if won:
            await self._audit(rec, "bot", "request.expired")
            self.metrics.approval("expired")
            await self.show_outcome(await self._get(approval_id))
        return won

    async def expire_due(self) -> int:
        """The expiry job: every pending request past its time becomes expired (once)."""
        count = 0
        for approval_id in await self.store.due_for_expiry(self.clock()):
            count += await self.expire(approval_id)
        return count


__all__ += ["ApprovalError"]
