"""Opening a request (SPEC §3): the pre-check, then the request stored and its message posted.

`check` is the pre-check alone (the cancel modal shows its refusal on the form's fields before
anything is posted); `post` stores and posts what passed it; `open` does both, for the command.

The request is stored with its posting as work leased to this process, so if the process dies
or Slack does not answer, another (or this one, later) posts it — once, by its key.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot.approval.audit import RequestAudit
from bot.approval.errors import FlowError, WorkStuck
from bot.approval.lease import Leases
from bot.approval.message import RequestMessage
from bot.approval.work import RequestWork
from bot.cce.client import CCEClient
from bot.cce.errors import CCEError
from bot.cce.found import FoundCluster
from bot.cce.snapshots import snapshot
from bot.domain.approvals import ApprovalPolicy, ApprovalState
from bot.domain.cancellability import cancellability
from bot.domain.snapshot import Snapshot
from bot.slack.blocks import escape, slack_date
from bot.slack.explain import describe_cce_error
from bot.slack.poster import SlackPostError
from bot.store.records import NewApproval
from bot.store.requests import RequestStore

__all__ = ["Checked", "Opening"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Checked:
    """A workflow that passed the pre-check: it may be cancelled now, as `snap` shows."""

    found: FoundCluster
    workflow_id: str
    snap: Snapshot


class Opening:
    def __init__(
        self,
        *,
        cce: CCEClient,
        requests: RequestStore,
        audit: RequestAudit,
        message: RequestMessage,
        leases: Leases,
        work: RequestWork,
        policy: ApprovalPolicy,
        clock: Callable[[], datetime],
    ) -> None:
        self._cce = cce
        self._requests = requests
        self._audit = audit
        self._message = message
        self._leases = leases
        self._work = work
        self._policy = policy
        self._clock = clock

    async def open(
        self, user_id: str, channel_id: str, found: FoundCluster, workflow_id: str, reason: str
    ) -> str:
        """Pre-check, store and post the request; return what to tell the requester."""
        checked = await self.check(user_id, found, workflow_id)
        return await self.post(user_id, channel_id, checked, reason)

    async def check(self, user_id: str, found: FoundCluster, workflow_id: str) -> Checked:
        """The pre-check: read the workflow and refuse (`FlowError`) when it may not be
        cancelled now. A refusal is audited; nothing is stored or posted."""
        ref = found.ref
        try:
            workflow = await self._cce.show_workflow(ref, workflow_id)
        except CCEError as exc:
            raise FlowError(describe_cce_error(exc)) from None
        snap = snapshot(workflow)
        verdict = cancellability(snap)
        if not verdict.cancellable:
            await self._audit.refused(
                actor=user_id,
                cluster_id=ref.cluster_id,
                workflow_id=workflow_id,
                reasons=[b.message for b in verdict.blockers],
            )
            raise FlowError(
                f"Workflow `{workflow_id}` cannot be cancelled now, so no request was "
                f"opened. {escape(verdict.explain())}"
            )
        return Checked(found, workflow_id, snap)

    async def post(self, user_id: str, channel_id: str, checked: Checked, reason: str) -> str:
        """Store the request and post its message in `channel_id`; return what to tell the
        requester. Raises `FlowError` when Slack refuses the post (nothing is left open)."""
        now = self._clock()
        ref = checked.found.ref
        new = NewApproval(
            approval_id="req-" + secrets.token_hex(6),
            cluster_alias=checked.found.alias or checked.found.name,
            project_id=ref.project_id,
            cluster_id=ref.cluster_id,
            endpoint=ref.endpoint,
            workflow_id=checked.workflow_id,
            requester_id=user_id,
            channel_id=channel_id,
            reason=reason,
            required=self._policy.required,
            created_at=now,
            expires_at=now + self._policy.expires_after,
            summary=checked.snap.to_dict(),
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
                await self._audit.record(new, "request.post_failed", error=exc.error)
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
        await self._audit.record(
            new, "request.opened", actor=new.requester_id, reason=new.reason, message_ts=ts
        )
        logger.info(
            "approval.opened", extra={"approval_id": approval_id, "workflow_id": new.workflow_id}
        )
        return (
            f"Approval request `{approval_id}` posted. An approver must approve it before "
            f"{slack_date(new.expires_at)}."
        )
