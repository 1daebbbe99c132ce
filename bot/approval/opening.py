"""Opening a request (SPEC §3): the pre-check, then the request stored and its message posted.

The request is stored with its posting as work leased to this process, so if the process dies
or Slack does not answer, another (or this one, later) posts it — once, by its key.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any

from bot.approval.clusters import ConfigClusters
from bot.approval.errors import FlowError, WorkStuck
from bot.approval.lease import Leases
from bot.approval.message import RequestMessage
from bot.approval.work import RequestWork
from bot.cce.client import CCEClient
from bot.cce.errors import CCEError
from bot.cce.snapshots import snapshot
from bot.domain.approvals import ApprovalPolicy, ApprovalState
from bot.domain.cancellability import cancellability
from bot.domain.commands import Cancel
from bot.slack.blocks import escape, slack_date
from bot.slack.explain import describe_cce_error
from bot.slack.poster import SlackPostError
from bot.store.audit import AuditLog
from bot.store.records import NewApproval
from bot.store.requests import RequestStore

__all__ = ["Opening"]

logger = logging.getLogger(__name__)


class Opening:
    def __init__(
        self,
        *,
        cce: CCEClient,
        clusters: ConfigClusters,
        requests: RequestStore,
        audit: AuditLog,
        message: RequestMessage,
        leases: Leases,
        work: RequestWork,
        policy: ApprovalPolicy,
        clock: Callable[[], datetime],
    ) -> None:
        self._cce = cce
        self._clusters = clusters
        self._requests = requests
        self._audit = audit
        self._message = message
        self._leases = leases
        self._work = work
        self._policy = policy
        self._clock = clock

    async def open(self, user_id: str, channel_id: str, cmd: Cancel) -> str:
        """Pre-check, store and post the request; return what to tell the requester."""
        alias, ref = await self._clusters.resolve(cmd.cluster)
        try:
            workflow = await self._cce.show_workflow(ref, cmd.workflow_id)
        except CCEError as exc:
            raise FlowError(describe_cce_error(exc)) from None
        snap = snapshot(workflow)
        verdict = cancellability(snap)
        now = self._clock()
        if not verdict.cancellable:
            await self._audit.add(
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
        new = NewApproval(
            approval_id="req-" + secrets.token_hex(6),
            cluster_alias=alias,
            project_id=ref.project_id,
            cluster_id=ref.cluster_id,
            endpoint=ref.endpoint,
            workflow_id=cmd.workflow_id,
            requester_id=user_id,
            channel_id=channel_id,
            reason=cmd.reason,
            required=self._policy.required,
            created_at=now,
            expires_at=now + self._policy.expires_after,
            summary=snap.to_dict(),
        )
        await self._requests.create(new, owner=self._leases.owner, lease_until=self._leases.until())
        return await self._post(new)

    async def _post(self, new: NewApproval) -> str:
        approval_id = new.approval_id
        rec = await self._message.get(approval_id)
        async with self._leases.held(approval_id):
            try:
                ts = await self._message.post(rec)
            except SlackPostError as exc:
                await self._requests.transition(
                    approval_id,
                    ApprovalState.PENDING,
                    ApprovalState.FAILED,
                    owner=self._leases.owner,
                    outcome=f"could not post the request: {exc.error}",
                    decided_at=self._clock(),
                    work=None,
                )
                await self._record(new, "request.post_failed", error=exc.error)
                await self._leases.release(approval_id)
                fix = exc.fix or f"Slack refused the message (`{escape(exc.error)}`)."
                raise FlowError(f"{fix} No request was left open.") from None
            except WorkStuck as exc:
                await self._work.stuck(approval_id, str(exc))
                return (
                    f"Slack did not answer while request `{approval_id}` was being posted. The "
                    "bot keeps trying and posts it once (never twice); you will be told here."
                )
        await self._leases.release(approval_id)
        await self._record(new, "request.opened", reason=new.reason, message_ts=ts)
        logger.info(
            "approval.opened", extra={"approval_id": approval_id, "workflow_id": new.workflow_id}
        )
        return (
            f"Approval request `{approval_id}` posted. An approver must approve it before "
            f"{slack_date(new.expires_at)}."
        )

    async def _record(self, new: NewApproval, action: str, **detail: Any) -> None:
        await self._audit.add(
            at=self._clock(),
            actor=new.requester_id if action == "request.opened" else "bot",
            action=action,
            approval_id=new.approval_id,
            cluster_id=new.cluster_id,
            workflow_id=new.workflow_id,
            **detail,
        )
