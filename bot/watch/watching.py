"""Starting watches and keeping their root messages current: the glue between the approval
flow, the `watch` command and the watcher."""

from __future__ import annotations

from bot.approval.flow import CancelFlow, Cancelled, FlowError
from bot.cce.endpoints import ClusterRef
from bot.cce.snapshots import snapshot
from bot.domain.snapshot import Snapshot
from bot.slack.blocks import escape, watch_message
from bot.slack.poster import SlackPostError
from bot.store import ApprovalRecord, WatchRecord
from bot.watch.watcher import Watcher

__all__ = ["Watching"]


class Watching:
    def __init__(self, flow: CancelFlow, watcher: Watcher) -> None:
        self.flow = flow
        self.watcher = watcher

    async def after_cancel(self, event: Cancelled) -> None:
        """Follow a cancelled workflow in the request's thread (its reply showed the answer)."""
        rec = event.record
        if rec.message_ts is None:
            return
        await self.watcher.start(
            cluster=ClusterRef(rec.project_id, rec.cluster_id, rec.endpoint),
            alias=rec.cluster_alias,
            workflow_id=rec.workflow_id,
            channel_id=rec.channel_id,
            thread_ts=rec.message_ts,
            root_ts=rec.message_ts,
            approval_id=rec.approval_id,
            reported=snapshot(event.workflow),
        )

    async def start_watch(
        self, user_id: str, channel_id: str, alias: str | None, ref: ClusterRef, workflow_id: str
    ) -> str:
        """`/cce-upgrade watch`: post a root message and follow the workflow in its thread."""
        existing = await self.flow.store.open_watch_for(workflow_id, channel_id)
        if existing is not None:
            return "That workflow is already being watched in this channel (see its thread)."
        workflow = await self.flow.read(ref, workflow_id)
        snap = snapshot(workflow)
        text, blocks = watch_message(alias, ref.cluster_id, workflow_id, snap, user_id)
        try:
            ts = await self.flow.poster.post(channel_id, text, blocks)
        except SlackPostError as exc:
            raise FlowError(
                exc.fix or f"Slack refused the message (`{escape(exc.error)}`)."
            ) from None
        await self.watcher.start(
            cluster=ref,
            alias=alias,
            workflow_id=workflow_id,
            channel_id=channel_id,
            thread_ts=ts,
            root_ts=ts,
            approval_id=None,
            reported=snap,
        )
        await self.flow.store.audit(
            at=self.flow.clock(),
            actor=user_id,
            action="watch.started",
            cluster_id=ref.cluster_id,
            workflow_id=workflow_id,
            message_ts=ts,
        )
        return "Watching it: every change will be posted in the message's thread."

    async def on_progress(self, watch: WatchRecord, snap: Snapshot) -> None:
        """Keep the root message's status current after changes were reported."""
        if watch.approval_id is not None:
            await self.flow.store.set_summary(
                watch.approval_id, ApprovalRecord.summary_json(snap.to_dict())
            )
            await self.flow.refresh(watch.approval_id)
            return
        if watch.root_ts is None:
            return
        text, blocks = watch_message(
            watch.cluster_alias, watch.cluster_id, watch.workflow_id, snap, "bot"
        )
        try:
            await self.flow.poster.update(watch.channel_id, watch.root_ts, text, blocks)
        except SlackPostError:
            return
