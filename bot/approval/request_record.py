"""An approval request's record and its Slack message, kept in step: read the record, re-render
the message from it, reply in its thread, append to the audit log. Shared by the flow's steps."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from bot.domain.approvals import UnknownApproval
from bot.domain.snapshot import Snapshot
from bot.slack.blocks import RequestView, request_message
from bot.slack.poster import Poster, SlackPostError, SlackPostUncertain
from bot.store import ApprovalRecord, Store

__all__ = ["RequestRecord", "view_of"]

logger = logging.getLogger(__name__)


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


class RequestRecord:
    """Base of the flow: the store is the one source of truth for what the message shows."""

    store: Store
    poster: Poster
    clock: Callable[[], datetime]

    async def _get(self, approval_id: str) -> ApprovalRecord:
        rec = await self.store.get_request(approval_id)
        if rec is None:
            raise UnknownApproval()
        return rec

    async def refresh(self, approval_id: str) -> None:
        """Re-render the request message from the store."""
        rec = await self._get(approval_id)
        if rec.message_ts is None:
            return
        text, blocks = request_message(view_of(rec))
        try:
            await self.poster.update(rec.channel_id, rec.message_ts, text, blocks)
        except SlackPostError:
            logger.warning("approval.message.update_failed", extra={"approval_id": approval_id})

    async def _find_posted(self, rec: ApprovalRecord) -> tuple[str | None, bool]:
        """(ts, True) when Slack took the request message though its answer was lost;
        (None, True) when it is surely not in the channel; (None, False) when that can't be told
        (no history scope, or no answer again)."""
        try:
            return await self.poster.find_message(rec.channel_id, rec.approval_id), True
        except (SlackPostError, SlackPostUncertain) as exc:
            logger.warning(
                "approval.message.unverified",
                extra={"approval_id": rec.approval_id, "status": type(exc).__name__},
            )
            return None, False

    async def _reply(
        self, rec: ApprovalRecord, text: str, *, key: str | None = None, again: bool = False
    ) -> None:
        """Reply in the request's thread. With `key`, a lost answer is settled by looking for
        the reply instead of posting it twice; `again` (a step re-run after a restart) looks
        first, in case the first run posted it."""
        ts = rec.message_ts
        if ts is None:
            return
        try:
            if key is not None and again and await self._replied(rec.channel_id, ts, key):
                return
            try:
                await self.poster.post(rec.channel_id, text, thread_ts=ts, key=key)
            except SlackPostUncertain:
                if await self._replied(rec.channel_id, ts, key or ""):
                    return
                await self.poster.post(rec.channel_id, text, thread_ts=ts, key=key)
        except (SlackPostError, SlackPostUncertain):
            logger.warning("approval.reply.failed", extra={"approval_id": rec.approval_id})

    async def _replied(self, channel: str, thread_ts: str, key: str) -> bool:
        """Whether the thread holds a reply posted with `key` (False when it can't be read)."""
        try:
            return await self.poster.find_reply(channel, thread_ts, key) is not None
        except SlackPostError:  # no history scope: post, at worst a second time
            return False

    async def _audit(
        self,
        rec: ApprovalRecord,
        actor: str,
        action: str,
        *,
        request_id: str | None = None,
        **detail: object,
    ) -> None:
        await self.store.audit(
            at=self.clock(),
            actor=actor,
            action=action,
            approval_id=rec.approval_id,
            cluster_id=rec.cluster_id,
            workflow_id=rec.workflow_id,
            request_id=request_id,
            **detail,
        )
