"""Deciding on a request (SPEC §3): approve, reject, expire — each one conditional update.

A click is honoured only from an allowed channel, while the request is pending and unexpired;
the store decides that in the same transaction that records the approval. A click on a message
whose ts the bot never stored adopts it. A click from the App Home tab carries no channel and no
message: the allow-list then applies to the request's own channel, and nothing is adopted. The
approval that completes the quorum hands the cancel to `RequestWork` under a lease this process
now holds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.approval.audit import RequestAudit
from bot.approval.lease import Leases
from bot.approval.message import RequestMessage
from bot.approval.work import RequestWork
from bot.domain.approvals import (
    AlreadyDecided,
    ApprovalPolicy,
    ApprovalState,
    ChannelNotAllowed,
    RequestExpired,
    UnknownApproval,
    channel_allowed,
    check_decider,
)
from bot.metrics import Metrics
from bot.slack.directory import ApproverDirectory
from bot.store.records import ApprovalRecord, Work
from bot.store.requests import RequestStore

__all__ = ["Click", "Decisions"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Click:
    """One Approve or Reject click, as the payload carried it; `channel_id` None: from Home."""

    approval_id: str
    user_id: str
    channel_id: str | None
    message_ts: str | None
    approving: bool


class Decisions:
    def __init__(
        self,
        *,
        requests: RequestStore,
        audit: RequestAudit,
        message: RequestMessage,
        work: RequestWork,
        leases: Leases,
        directory: ApproverDirectory,
        policy: ApprovalPolicy,
        channels: Collection[str] | None,
        clock: Callable[[], datetime],
        metrics: Metrics,
    ) -> None:
        self._requests = requests
        self._audit = audit
        self._message = message
        self._work = work
        self._leases = leases
        self._directory = directory
        self._policy = policy
        self._channels = channels
        self._clock = clock
        self._metrics = metrics

    async def decide(self, click: Click) -> str | None:
        """Apply one click. Returns an ephemeral note for the clicker, or None."""
        home = click.channel_id is None
        if not home and not channel_allowed(self._channels, click.channel_id or ""):
            raise ChannelNotAllowed()
        rec = await self._requests.get(click.approval_id)
        if rec is None or (not home and rec.channel_id != click.channel_id):
            raise UnknownApproval()
        if home and not channel_allowed(self._channels, rec.channel_id):
            raise ChannelNotAllowed()
        if rec.message_ts is None and click.channel_id and click.message_ts:
            await self._message.adopt(rec, click.channel_id, click.message_ts)
        now = self._clock()
        if rec.state == ApprovalState.PENDING and now >= rec.expires_at:
            await self.expire(rec.approval_id)
            rec = await self._message.get(rec.approval_id)
        check_decider(
            policy=self._policy,
            user_id=click.user_id,
            requester_id=rec.requester_id,
            is_approver=await self._directory.is_approver(click.user_id),
            approving=click.approving,
            state=rec.state,
            decided_by=rec.decided_by,
            expires_at=rec.expires_at,
            now=now,
            approved_by=rec.approved_by,
        )
        if not click.approving:
            await self._reject(rec, click.user_id, now)
            return None
        return await self._approve(rec, click.user_id, now)

    async def _approve(self, rec: ApprovalRecord, user_id: str, now: datetime) -> str | None:
        result = await self._requests.approve(
            rec.approval_id,
            user_id,
            now,
            owner=self._leases.owner,
            lease_until=self._leases.until(),
        )
        if result.outcome == "closed":
            if result.state == "expired":
                raise RequestExpired()
            raise AlreadyDecided(result.state, result.decided_by)
        if result.outcome == "duplicate":
            return None  # a second click of the same approver: already counted
        await self._audit.record(rec, "approval.given", actor=user_id, count=result.count)
        if result.outcome == "recorded":
            await self._message.show(rec.approval_id)
            return (
                f"Approval recorded ({result.count} of {rec.required}); waiting for another "
                "approver."
            )
        await self._audit.record(rec, "approval.approved", actor=user_id)
        self._metrics.approval("approved")
        await self._work.drive(rec.approval_id)
        return None

    async def _reject(self, rec: ApprovalRecord, user_id: str, now: datetime) -> None:
        won = await self._requests.transition(
            rec.approval_id,
            ApprovalState.PENDING,
            ApprovalState.REJECTED,
            decided_by=user_id,
            decided_at=now,
            outcome=f"Rejected by <@{user_id}>.",
            **self._show_work(),
        )
        if not won:
            latest = await self._message.get(rec.approval_id)
            raise AlreadyDecided(latest.state, latest.decided_by)
        await self._audit.record(rec, "approval.rejected", actor=user_id)
        self._metrics.approval("rejected")
        await self._work.drive(rec.approval_id)

    async def expire(self, approval_id: str) -> bool:
        """Pending past its time → expired (once); its message loses the buttons."""
        now = self._clock()
        won = await self._requests.transition(
            approval_id,
            ApprovalState.PENDING,
            ApprovalState.EXPIRED,
            decided_at=now,
            outcome="Expired without enough approvals.",
            **self._show_work(),
        )
        if won:
            rec = await self._message.get(approval_id)
            await self._audit.record(rec, "request.expired", actor="bot")
            self._metrics.approval("expired")
            await self._work.drive(approval_id)
        return won

    async def expire_due(self) -> int:
        """The expiry job: every pending request past its time becomes expired (once)."""
        count = 0
        for approval_id in await self._requests.due_for_expiry(self._clock()):
            count += await self.expire(approval_id)
        return count

    def _show_work(self) -> dict[str, Any]:
        """The request ended: showing it is work this process now holds the lease for."""
        return {
            "work": Work.SHOW,
            "lease_owner": self._leases.owner,
            "lease_until": self._leases.until(),
        }
