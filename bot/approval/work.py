"""Doing what is left for a request, under its lease, step by step (the store's `work` column).

post → (pending, waiting for approvers) · send → settle → follow_up · show. Each step's
transition names the next one, so whoever holds the lease — the process that took the click,
or another after its lease lapsed — goes on from where the last one stopped. A step that cannot
progress backs off and is tried again; after `recovery.give_up_after` it is given up once, with
a log event, a metric, an audit record and a word to the requester (SPEC §5a).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.approval.audit import RequestAudit
from bot.approval.errors import WorkStuck
from bot.approval.lease import Leases
from bot.approval.message import RequestMessage
from bot.approval.outcomes import Outcomes
from bot.approval.sender import CancelSender
from bot.domain.approvals import ApprovalState
from bot.domain.durations import format_duration
from bot.metrics import Metrics
from bot.slack.poster import Poster, SlackPostError, SlackPostUncertain
from bot.store.records import ApprovalRecord, Work
from bot.store.requests import RequestStore

__all__ = ["RequestWork"]

logger = logging.getLogger(__name__)

MAX_STEPS = 8  # post, send, settle, follow_up, show: far more than any request needs
MAX_BACKOFF = timedelta(minutes=5)
# Work given up ends the request, from the state it was in, saying what did not happen.
ENDINGS: dict[str, tuple[str, str]] = {
    Work.POST: (ApprovalState.PENDING, "The request could not be posted."),
    Work.SEND: (ApprovalState.APPROVED, "No cancel was sent."),
    Work.SETTLE: (
        ApprovalState.CANCEL_REQUESTED,
        "The cancel was sent but its outcome could not be confirmed; check the workflow with "
        "`/cce-upgrade status` before doing anything else.",
    ),
}


class RequestWork:
    def __init__(
        self,
        *,
        requests: RequestStore,
        audit: RequestAudit,
        leases: Leases,
        message: RequestMessage,
        sender: CancelSender,
        outcomes: Outcomes,
        poster: Poster,
        clock: Callable[[], datetime],
        give_up_after: timedelta,
        metrics: Metrics,
    ) -> None:
        self._requests = requests
        self._audit = audit
        self._leases = leases
        self._message = message
        self._sender = sender
        self._outcomes = outcomes
        self._poster = poster
        self._clock = clock
        self._give_up_after = give_up_after
        self._metrics = metrics

    async def drive(self, approval_id: str) -> None:
        """Do the work left for a request whose lease this process holds, then let go of it."""
        async with self._leases.held(approval_id):
            try:
                for _ in range(MAX_STEPS):
                    rec = await self._message.get(approval_id)
                    if rec.lease_owner != self._leases.owner:
                        return  # the lease moved on; its holder goes on from here
                    if rec.work is None:
                        break
                    await self._step(rec)
            except WorkStuck as exc:
                await self.stuck(approval_id, str(exc))
                return
        await self._leases.release(approval_id, attempts=0, stuck_since=None, next_attempt_at=None)

    async def _step(self, rec: ApprovalRecord) -> None:
        match rec.work:
            case Work.POST:
                await self._post(rec)
            case Work.SEND:
                await self._sender.send(rec)
            case Work.SETTLE:
                await self._sender.settle(rec)
            case Work.FOLLOW_UP:
                await self._outcomes.follow_up(rec)
                await self._requests.set_work(rec.approval_id, self._leases.owner, None)
            case Work.SHOW:
                await self._outcomes.show_ended(rec)
                await self._requests.set_work(rec.approval_id, self._leases.owner, None)
            case _:  # a value a newer release wrote: leave it alone
                logger.warning(
                    "approval.work.unknown",
                    extra={"approval_id": rec.approval_id, "status": rec.work},
                )
                await self._requests.set_work(rec.approval_id, self._leases.owner, None)

    async def _post(self, rec: ApprovalRecord) -> None:
        """Post a request whose message a crash (or Slack) left unposted, and tell the requester."""
        now = self._clock()
        if now >= rec.expires_at:
            await self._requests.transition(
                rec.approval_id,
                ApprovalState.PENDING,
                ApprovalState.EXPIRED,
                owner=self._leases.owner,
                decided_at=now,
                outcome="Expired before it could be posted.",
                work=None,
            )
            await self._audit.record(rec, "request.expired", detail_text="never posted")
            await self._tell(
                rec,
                f"Your request to cancel workflow `{rec.workflow_id}` could not "
                "be posted before it expired; nothing was sent to CCE.",
            )
            return
        try:
            ts = await self._message.post(rec)
        except SlackPostError as exc:
            await self._requests.transition(
                rec.approval_id,
                ApprovalState.PENDING,
                ApprovalState.FAILED,
                owner=self._leases.owner,
                decided_at=now,
                outcome=f"could not post the request: {exc.error}",
                work=None,
            )
            await self._audit.record(rec, "request.post_failed", error=exc.error)
            fix = exc.fix or f"Slack refused the message (`{exc.error}`)."
            await self._tell(
                rec,
                f"Your request to cancel workflow `{rec.workflow_id}` could not "
                f"be posted: {fix} Nothing was sent to CCE.",
            )
            return
        await self._audit.record(rec, "request.opened", message_ts=ts, recovered=True)
        await self._tell(
            rec,
            f"Your request to cancel workflow `{rec.workflow_id}` is posted (approval "
            f"`{rec.approval_id}`); Slack or the bot was slow, so it took a moment. An approver "
            "must approve it before it expires.",
        )

    async def stuck(self, approval_id: str, reason: str) -> None:
        """The work could not progress: try again later (backing off), or give it up."""
        rec = await self._message.get(approval_id)
        now = self._clock()
        since = rec.stuck_since or now
        if now - since >= self._give_up_after:
            await self._give_up(rec, reason)
            return
        attempts = rec.attempts + 1
        delay = min(timedelta(seconds=2**attempts), MAX_BACKOFF)
        logger.warning(
            "approval.work.stuck",
            extra={"approval_id": approval_id, "status": rec.work, "detail": reason},
        )
        await self._leases.release(
            approval_id, attempts=attempts, stuck_since=since, next_attempt_at=now + delay
        )

    async def _give_up(self, rec: ApprovalRecord, reason: str) -> None:
        """Stop trying, once: say so everywhere it matters."""
        owner = self._leases.owner
        text = (
            f":warning: The bot gave up after trying for {_hours(self._give_up_after)}: {reason}."
        )
        ended = ENDINGS.get(rec.work or "")
        if ended is not None:
            expected, what = ended
            await self._requests.transition(
                rec.approval_id,
                expected,
                ApprovalState.FAILED,
                owner=owner,
                outcome=f"{text} {what}",
                decided_at=rec.decided_at or self._clock(),
                work=None,
            )
        await self._requests.set_work(rec.approval_id, owner, None)
        logger.error(
            "recovery.gave_up",
            extra={"approval_id": rec.approval_id, "status": rec.work, "detail": reason},
        )
        self._metrics.gave_up(str(rec.work))
        await self._audit.record(rec, "recovery.gave_up", work=rec.work, reason=reason)
        try:
            await self._message.show(rec.approval_id)
        except Exception:  # best effort: Slack may be what is failing
            logger.warning("approval.message.update_failed", extra={"approval_id": rec.approval_id})
        await self._tell(
            rec,
            f"About your request `{rec.approval_id}` (workflow `{rec.workflow_id}`): {text} "
            + (ended[1] if ended else "Its thread may be missing the last updates."),
        )
        await self._leases.release(
            rec.approval_id, attempts=0, stuck_since=None, next_attempt_at=None
        )

    async def _tell(self, rec: ApprovalRecord, text: str) -> None:
        """A word to the requester only (best effort: nothing depends on it)."""
        try:
            await self._poster.ephemeral(rec.channel_id, rec.requester_id, text)
        except (SlackPostError, SlackPostUncertain):
            logger.warning("approval.notify_failed", extra={"approval_id": rec.approval_id})


def _hours(value: timedelta) -> str:
    return format_duration(value)
