"""One way to post what matters, once (SPEC §5a): the request message, outcome replies, progress
replies, outage warnings and recovery notes, summaries and alerts all go through `Delivery`.

A row keyed by the post is written before the send; the key travels as message metadata; the
row is marked delivered on Slack's answer. When the answer is lost (a dropped connection, a
timeout, a kill), the next caller with the same key looks for it among the messages this bot
posted and sends only if it is absent. When it cannot look (no history scope, or the channel
can't be read), the same rule applies everywhere: it sends again, marked as a possible repeat.
Calling `send` again with a key already delivered sends nothing and returns what was recorded,
so a step re-run after a crash is safe.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.domain.delivery import DeliveryRecord, NewDelivery
from bot.slack.poster import Poster, SlackPostError, SlackPostUncertain

__all__ = ["REPEAT_NOTE", "Delivered", "Delivery", "DeliveryBusy", "DeliveryUncertain"]

logger = logging.getLogger(__name__)

REPEAT_NOTE = (
    "_(sent again: Slack's answer to the first try was lost and this channel's history can't "
    "be read to check; if the same message is above, it came twice)_"
)


@dataclass(frozen=True)
class Delivered:
    """Slack has the post: its `ts`, the owner's recorded `after`, and whether it was sent
    just now (False: found in the channel, or recorded as delivered before)."""

    ts: str
    after: dict[str, Any] | None
    sent_now: bool


class DeliveryUncertain(Exception):
    """Slack's answer was lost and the post could not be settled yet; a later call settles it."""


class DeliveryBusy(Exception):
    """Another live sender is delivering this post right now."""


class DeliveryRows(Protocol):
    """Where delivery rows live (`bot.store.deliveries.DeliveryStore`)."""

    async def get(self, key: str) -> DeliveryRecord | None: ...
    async def insert(
        self, post: NewDelivery, *, owner: str, now: datetime, until: datetime
    ) -> bool: ...
    async def claim(self, key: str, owner: str, now: datetime, until: datetime) -> bool: ...
    async def delivered(self, key: str, ts: str, now: datetime, *, repeated: bool) -> None: ...
    async def refused(self, key: str, error: str) -> None: ...
    async def reopen(self, key: str) -> None: ...
    async def adopt(self, key: str, ts: str, now: datetime) -> bool: ...


class Delivery:
    """Posts under a key, once. Needs the delivery rows and a `Poster`; knows nothing of why."""

    def __init__(
        self,
        store: DeliveryRows,
        poster: Poster,
        *,
        owner: str,
        clock: Callable[[], datetime],
        claim: timedelta,
        on_outcome: Callable[[str], None] | None = None,
    ) -> None:
        self._store = store
        self._poster = poster
        self._owner = owner
        self._clock = clock
        self._claim = claim
        self._on_outcome = on_outcome

    async def send(self, post: NewDelivery) -> Delivered:
        """Deliver `post` once under `post.key` (see the module docstring).

        Raises `SlackPostError` when Slack refuses it (it surely is not posted),
        `DeliveryUncertain` when Slack's answer is lost and looking for it did not settle it,
        `DeliveryBusy` when another live sender has it. If the key was written before, the post
        as it was first written is what is delivered (and its `after` is returned).
        """
        now = self._clock()
        if await self._store.insert(post, owner=self._owner, now=now, until=now + self._claim):
            try:
                return await self._post(post, repeated=False)
            except DeliveryUncertain:
                pass  # the answer was lost: look for the post at once (below)
        rec = await self._store.get(post.key)
        if rec is None:  # pragma: no cover - written a moment ago; rows are never deleted
            raise DeliveryUncertain(post.key)
        return await self._resume(rec)

    async def settle(self, key: str) -> Delivered | None:
        """Finish a post begun earlier under `key`; None when nothing was begun."""
        rec = await self._store.get(key)
        return None if rec is None else await self._resume(rec)

    async def adopt(self, key: str, ts: str) -> None:
        """The post was seen in the channel at `ts` (a click came from it): delivered."""
        if await self._store.adopt(key, ts, self._clock()):
            self._outcome("found")

    async def _resume(self, rec: DeliveryRecord) -> Delivered:
        key = rec.key
        if rec.state == "delivered" and rec.ts is not None:
            return Delivered(rec.ts, rec.after, sent_now=False)
        now = self._clock()
        if not await self._store.claim(key, self._owner, now, now + self._claim):
            raise DeliveryBusy(key)
        if rec.state == "refused":
            await self._store.reopen(key)
            return await self._post(rec.post, repeated=False)
        return await self._look_then_post(rec)

    async def _look_then_post(self, rec: DeliveryRecord) -> Delivered:
        """The answer to an earlier send of this post never came: is it in the channel?"""
        try:
            if rec.thread_ts is not None:
                ts = await self._poster.find_reply(rec.channel_id, rec.thread_ts, rec.key)
            else:
                oldest = (rec.created_at - timedelta(minutes=10)).timestamp()
                ts = await self._poster.find_message(rec.channel_id, rec.key, oldest)
        except SlackPostUncertain:
            self._outcome("uncertain")
            raise DeliveryUncertain(rec.key) from None
        except SlackPostError as exc:  # most likely missing_scope: no history scope
            logger.warning("slack.delivery.unverified", extra={"key": rec.key, "status": exc.error})
            return await self._post(rec.post, repeated=True)
        if ts is None:
            return await self._post(rec.post, repeated=False)
        await self._store.delivered(rec.key, ts, self._clock(), repeated=False)
        logger.info("slack.delivery.found", extra={"key": rec.key})
        self._outcome("found")
        return Delivered(ts, rec.after, sent_now=False)

    async def _post(self, post: NewDelivery, *, repeated: bool) -> Delivered:
        text, blocks = post.text, post.blocks
        if repeated:
            text = f"{text}\n{REPEAT_NOTE}"
            if blocks is not None:
                note = {"type": "context", "elements": [{"type": "mrkdwn", "text": REPEAT_NOTE}]}
                blocks = [*blocks, note]
        try:
            ts = await self._poster.post(
                post.channel_id, text, blocks, thread_ts=post.thread_ts, key=post.key
            )
        except SlackPostError as exc:
            await self._store.refused(post.key, exc.error)
            self._outcome("refused")
            raise
        except SlackPostUncertain:
            self._outcome("uncertain")
            raise DeliveryUncertain(post.key) from None
        await self._store.delivered(post.key, ts, self._clock(), repeated=repeated)
        self._outcome("repeated" if repeated else "sent")
        return Delivered(ts, post.after, sent_now=True)

    def _outcome(self, outcome: str) -> None:
        if self._on_outcome is not None:
            self._on_outcome(outcome)
