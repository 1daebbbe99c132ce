"""Starting watches: after an accepted cancel (in the request's thread), and for
`/cce-upgrade watch` (a root message of its own). At most one open watch per workflow and
thread: the store's unique index decides, so a live path and a recovery racing open one."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any

from bot.approval.errors import FlowError
from bot.cce.client import CCEClient
from bot.cce.errors import CCEError
from bot.cce.found import FoundCluster
from bot.cce.snapshots import snapshot
from bot.config import WatchConfig
from bot.domain.delivery import NewDelivery
from bot.domain.snapshot import Snapshot
from bot.slack.blocks import escape, watch_message
from bot.slack.delivery import Delivery, DeliveryBusy, DeliveryUncertain
from bot.slack.explain import describe_cce_error
from bot.slack.poster import SlackPostError
from bot.store.audit import AuditLog
from bot.store.records import ApprovalRecord, NewWatch
from bot.store.watches import WatchStore
from bot.watch.cadence import next_poll

__all__ = ["Watching"]

logger = logging.getLogger(__name__)


class Watching:
    def __init__(
        self,
        *,
        cce: CCEClient,
        watches: WatchStore,
        delivery: Delivery,
        audit: AuditLog,
        config: WatchConfig,
        clock: Callable[[], datetime],
    ) -> None:
        self._cce = cce
        self._watches = watches
        self._delivery = delivery
        self._audit = audit
        self._config = config
        self._clock = clock

    async def after_cancel(self, rec: ApprovalRecord, shown: Snapshot) -> None:
        """Follow a cancelled workflow in its request's thread, from what the thread shows."""
        if rec.message_ts is None:
            return
        now = self._clock()
        watch_id = await self._open(
            NewWatch(
                watch_id=_new_id(),
                approval_id=rec.approval_id,
                cluster_alias=rec.cluster_alias,
                project_id=rec.project_id,
                cluster_id=rec.cluster_id,
                endpoint=rec.endpoint,
                workflow_id=rec.workflow_id,
                channel_id=rec.channel_id,
                thread_ts=rec.message_ts,
                root_ts=rec.message_ts,
                last_reported=shown.to_dict(),
                started_at=now,
                next_due_at=next_poll(rec.cluster_id, now, shown, self._config),
                cancel_seen_at=rec.cancel_sent_at or now,
            )
        )
        if watch_id is not None:
            await self._audit.add(
                at=now,
                actor="bot",
                action="watch.started",
                approval_id=rec.approval_id,
                cluster_id=rec.cluster_id,
                workflow_id=rec.workflow_id,
                watch_id=watch_id,
                message_ts=rec.message_ts,
            )

    async def start(
        self,
        user_id: str,
        channel_id: str,
        found: FoundCluster,
        workflow_id: str,
        *,
        thread_ts: str | None = None,
    ) -> str:
        """`/cce-upgrade watch`: post a root message and follow the workflow in its thread.

        With `thread_ts` (an alert's Watch button), follow it in that thread instead: a reply
        says so, and the message the thread hangs from is left as it is.
        """
        alias, ref = found.alias or found.name, found.ref
        if await self._watches.open_for(workflow_id, channel_id, thread_ts) is not None:
            where = "this thread" if thread_ts else "this channel (see its thread)"
            return f"That workflow is already being watched in {where}."
        try:
            workflow = await self._cce.show_workflow(ref, workflow_id)
        except CCEError as exc:
            raise FlowError(describe_cce_error(exc)) from None
        snap = snapshot(workflow)
        watch_id = _new_id()
        text, root_blocks = watch_message(alias, ref.cluster_id, workflow_id, snap, user_id)
        blocks: list[dict[str, Any]] | None = root_blocks
        if thread_ts is not None:
            text = (
                f":eyes: Watching this upgrade (asked by <@{user_id}>): each change is posted here."
            )
            blocks = None
        try:
            root = await self._delivery.send(
                NewDelivery(
                    f"{watch_id}:root", channel_id, text, thread_ts=thread_ts, blocks=blocks
                )
            )
        except SlackPostError as exc:
            raise FlowError(
                exc.fix or f"Slack refused the message (`{escape(exc.error)}`)."
            ) from None
        except (DeliveryUncertain, DeliveryBusy):
            raise FlowError(
                "Slack did not answer while the watch message was being posted, so nothing is "
                "being watched yet; try again in a moment."
            ) from None
        now = self._clock()
        phase_cancel = (snap.phase or "").lower() == "cancel"
        opened = await self._open(
            NewWatch(
                watch_id=watch_id,
                approval_id=None,
                cluster_alias=alias,
                project_id=ref.project_id,
                cluster_id=ref.cluster_id,
                endpoint=ref.endpoint,
                workflow_id=workflow_id,
                channel_id=channel_id,
                thread_ts=thread_ts or root.ts,
                root_ts=None if thread_ts else root.ts,
                last_reported=snap.to_dict(),
                started_at=now,
                next_due_at=next_poll(found.cluster_id, now, snap, self._config),
                cancel_seen_at=now if phase_cancel else None,
            )
        )
        if opened is None:
            return "That workflow is already being watched in this channel (see its thread)."
        await self._record(user_id, "watch.started", ref.cluster_id, workflow_id, watch_id, root.ts)
        if thread_ts is not None:
            return "Watching it: every change will be posted in the alert's thread."
        return "Watching it: every change will be posted in the message's thread."

    async def _open(self, new: NewWatch) -> str | None:
        watch_id = await self._watches.create(new)
        if watch_id is not None:
            logger.info(
                "watcher.started", extra={"watch_id": watch_id, "workflow_id": new.workflow_id}
            )
        return watch_id

    async def _record(
        self,
        actor: str,
        action: str,
        cluster_id: str,
        workflow_id: str,
        watch_id: str,
        message_ts: str | None = None,
    ) -> None:
        await self._audit.add(
            at=self._clock(),
            actor=actor,
            action=action,
            cluster_id=cluster_id,
            workflow_id=workflow_id,
            watch_id=watch_id,
            message_ts=message_ts,
        )


def _new_id() -> str:
    return "w-" + secrets.token_hex(6)
