"""The request message and its thread: posted once, kept current, replied to once per key.

The store is the one source of truth for what the message shows. Every change moves the
request's version on; `show` renders the latest version and records which one the message
shows, so an update never puts an older state over a newer one (updates to one message are
serialised in this process, and a sender that finds the version moved on while it sent
renders again).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from bot.approval.errors import WorkStuck
from bot.domain.approvals import UnknownApproval
from bot.domain.delivery import NewDelivery
from bot.domain.snapshot import Snapshot
from bot.slack.blocks import RequestView, request_message
from bot.slack.delivery import Delivery, DeliveryBusy, DeliveryUncertain
from bot.slack.poster import Poster, SlackPostError
from bot.store.records import ApprovalRecord
from bot.store.requests import RequestStore

__all__ = ["RequestMessage", "view_of"]

logger = logging.getLogger(__name__)

SHOW_ROUNDS = 3  # renders of the newest version before leaving it to the next change


def view_of(rec: ApprovalRecord) -> RequestView:
    return RequestView(
        approval_id=rec.approval_id,
        alias=rec.cluster_alias,
        cluster_id=rec.cluster_id,
        workflow_id=rec.workflow_id,
        requester_id=rec.requester_id,
        reason=rec.reason,
        expires_at=rec.expires_at,
        required=rec.required,
        approved_by=rec.approved_by,
        snap=Snapshot.from_dict(rec.summary),
        state=rec.state,
        outcome=rec.outcome,
    )


class RequestMessage:
    def __init__(
        self,
        *,
        requests: RequestStore,
        delivery: Delivery,
        poster: Poster,
        clock: Callable[[], datetime],
    ) -> None:
        self._requests = requests
        self._delivery = delivery
        self._poster = poster
        self._clock = clock
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, approval_id: str) -> ApprovalRecord:
        rec = await self._requests.get(approval_id)
        if rec is None:
            raise UnknownApproval()
        return rec

    async def post(self, rec: ApprovalRecord) -> str:
        """Post the request message once (its key is the approval id) and record its ts.

        Raises `SlackPostError` when Slack refuses it, `WorkStuck` when Slack did not answer.
        """
        text, blocks = request_message(view_of(rec))
        post = NewDelivery(rec.approval_id, rec.channel_id, text, blocks=blocks)
        try:
            delivered = await self._delivery.send(post)
        except (DeliveryUncertain, DeliveryBusy) as exc:
            raise WorkStuck("Slack did not answer while the request was being posted") from exc
        await self._requests.set_message_ts(rec.approval_id, delivered.ts)
        await self._requests.mark_shown(rec.approval_id, rec.version, self._clock())
        return delivered.ts

    async def adopt(self, rec: ApprovalRecord, channel_id: str, ts: str) -> bool:
        """A click came from the request's message before its ts was stored: that is where it
        is. Its delivery is settled with it, so it is never posted a second time."""
        if channel_id != rec.channel_id or rec.message_ts is not None:
            return False
        if not await self._requests.set_message_ts(rec.approval_id, ts):
            return False
        await self._delivery.adopt(rec.approval_id, ts)
        logger.warning("approval.message.adopted", extra={"approval_id": rec.approval_id})
        return True

    async def show(self, approval_id: str) -> None:
        """Make the message show the request's newest version (no-op if it already does)."""
        lock = self._locks.setdefault(approval_id, asyncio.Lock())
        try:
            async with lock:
                await self._show(approval_id)
        finally:
            if not lock.locked() and self._locks.get(approval_id) is lock:
                del self._locks[approval_id]

    async def _show(self, approval_id: str) -> None:
        for _ in range(SHOW_ROUNDS):
            rec = await self._requests.get(approval_id)
            if rec is None or rec.message_ts is None or rec.shown_version >= rec.version:
                return
            text, blocks = request_message(view_of(rec))
            try:
                await self._poster.update(rec.channel_id, rec.message_ts, text, blocks)
            except SlackPostError:
                logger.warning("approval.message.update_failed", extra={"approval_id": approval_id})
                return
            await self._requests.mark_shown(approval_id, rec.version, self._clock())

    async def reply(self, rec: ApprovalRecord, key: str, text: str) -> str | None:
        """Reply in the request's thread once under `key`; None when Slack refused it (logged).

        Raises `WorkStuck` when Slack did not answer (the same key settles it later).
        """
        if rec.message_ts is None:
            return None
        post = NewDelivery(key, rec.channel_id, text, thread_ts=rec.message_ts)
        try:
            return (await self._delivery.send(post)).ts
        except SlackPostError:
            logger.warning("approval.reply.failed", extra={"approval_id": rec.approval_id})
            return None
        except (DeliveryUncertain, DeliveryBusy) as exc:
            raise WorkStuck("Slack did not answer while replying in the thread") from exc
