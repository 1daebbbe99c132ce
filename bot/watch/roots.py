"""Keeping a watch's root message current after its thread reported changes: the request
message (through the request's own versioned update) or a `watch` command's root."""

from __future__ import annotations

import logging

from bot.approval.message import RequestMessage
from bot.domain.snapshot import Snapshot
from bot.slack.blocks import watch_message
from bot.slack.poster import Poster, SlackPostError
from bot.store.records import WatchRecord
from bot.store.requests import RequestStore

__all__ = ["Roots"]

logger = logging.getLogger(__name__)


class Roots:
    def __init__(self, *, requests: RequestStore, message: RequestMessage, poster: Poster) -> None:
        self._requests = requests
        self._message = message
        self._poster = poster

    async def progressed(self, watch: WatchRecord, snap: Snapshot) -> None:
        if watch.approval_id is not None:
            await self._requests.update(watch.approval_id, summary=snap.to_dict())
            await self._message.show(watch.approval_id)
            return
        if watch.root_ts is None:
            return
        text, blocks = watch_message(
            watch.cluster_alias, watch.cluster_id, watch.workflow_id, snap, None
        )
        try:
            await self._poster.update(watch.channel_id, watch.root_ts, text, blocks)
        except SlackPostError:
            logger.warning("watcher.root.update_failed", extra={"watch_id": watch.watch_id})
