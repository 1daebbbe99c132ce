"""The poller (SPEC §5): each tick claims due watches, reads them, posts what changed, once.

Every thread post goes through `Delivery` under the key `{watch_id}/{n}` (n counts the watch's
posts). The key is written to the watch (`pending_key`) before the post is sent, and what the
watch records once it is delivered travels with the delivery row (`after`). A poll that finds a
pending key settles that post first — found in the thread, or sent once — and applies its
`after`. So a kill at any point posts nothing twice and loses nothing.

Cadence: `watch.fast_interval` while a task runs or a Rollback is expected, `watch.interval`
otherwise, switching on the poll that sees the change. Watches due together on one cluster are
read with one list call (`ClusterReads`). Leases are renewed while a tick runs.
`tick()` never raises: each watch is handled on its own, failures logged and retried later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.cce.endpoints import ClusterRef
from bot.cce.errors import CCEError, CCENotFound, CCEResponseInvalid
from bot.cce.snapshots import snapshot
from bot.config import WatchConfig
from bot.domain.delivery import NewDelivery
from bot.domain.durations import format_duration
from bot.domain.progress import apply, diff, rollback_expected, settlement
from bot.domain.snapshot import Snapshot
from bot.metrics import Metrics
from bot.slack.blocks import escape
from bot.slack.delivery import Delivery, DeliveryBusy, DeliveryUncertain
from bot.slack.poster import SlackPostError
from bot.slack.replies import render_change, render_summary
from bot.store.records import WatchRecord
from bot.store.watches import WatchStore
from bot.watch.cadence import next_poll
from bot.watch.reads import ClusterReads, Read, Workflow

__all__ = ["RootMessages", "Watcher"]

logger = logging.getLogger(__name__)

MAX_ROUNDS = 8  # batches claimed in one tick at most
SEEN_AT_MOST = 20_000  # watches whose last answer is remembered; beyond, one parse each

# What a delivered post may record on its watch (the `after` of its delivery row).
_AFTER_FIELDS = frozenset(
    {"last_reported", "state", "posts", "pending_key", "errors", "failing_since", "warned"}
)


class RootMessages(Protocol):
    """Keeps a watch's root message (a request message or a watch root) current."""

    async def progressed(self, watch: WatchRecord, snap: Snapshot) -> None: ...


class _LeaseLost(Exception):
    pass


class _Deferred(Exception):
    """A post's outcome is unknown; it stays pending and the next poll settles it."""


class Watcher:
    def __init__(
        self,
        *,
        reads: ClusterReads,
        watches: WatchStore,
        delivery: Delivery,
        roots: RootMessages,
        config: WatchConfig,
        lease: timedelta,
        clock: Callable[[], datetime],
        owner: str,
        metrics: Metrics,
        batch: int = 500,
    ) -> None:
        self._reads = reads
        self._watches = watches
        self._delivery = delivery
        self._roots = roots
        self._config = config
        self._lease = lease
        self._clock = clock
        self._owner = owner
        self._metrics = metrics
        self._batch = batch
        self._limit = asyncio.Semaphore(config.concurrency)
        self._quiet: list[tuple[str, int, datetime]] = []  # polls that found nothing new
        # Per watch, the API's answer (a digest) this process last compared, and what the thread
        # told after that: the same answer against the same thread means nothing to say. (Another
        # replica reporting in between changes what the thread told, so it is compared again.)
        # Kept to the `SEEN_AT_MOST` watches compared last: a dropped entry costs one parse.
        self._seen: OrderedDict[str, tuple[str, Snapshot]] = OrderedDict()
        self._in_flight: set[str] = set()
        self._ticking = asyncio.Lock()

    async def tick(self) -> int:
        """Poll every due watch this replica can claim; return how many were polled.

        Claims go by batches; a full batch means more may be due, so another follows at once (at
        most `MAX_ROUNDS` per tick): a backlog is worked off now, not one batch per tick.
        """
        async with self._ticking:
            polled = 0
            for _ in range(MAX_ROUNDS):
                done = await self._round()
                polled += done
                if done < self._batch:
                    break
            return polled

    async def _round(self) -> int:
        """Claim one batch of due watches, read them, poll each, release the quiet ones."""
        now = self._clock()
        try:
            due = await self._watches.claim_due(self._owner, now, now + self._lease, self._batch)
        except Exception:
            logger.exception("watcher.claim.failed")
            return 0
        self._in_flight = {w.watch_id for w in due}
        renewing = asyncio.create_task(self._renew())
        try:
            try:
                read = await self._reads.read((_ref(w), w.workflow_id) for w in due)
            except Exception:  # a bug: their leases lapse and they are polled again
                logger.exception("watcher.read.crashed")
                return 0
            async with asyncio.TaskGroup() as group:
                for watch in due:
                    group.create_task(self._guarded(watch, read[watch.workflow_id]))
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
        quiet, self._quiet = self._quiet, []
        try:
            await self._watches.release_quiet(self._owner, quiet)
        except Exception:  # the leases lapse and those watches are polled again; no loss
            logger.exception("watcher.release.failed")
        return len(due)

    async def drain(self) -> None:
        """Wait for a tick in progress to finish (before the client and store are closed)."""
        async with self._ticking:
            return

    async def _renew(self) -> None:
        """Keep the leases of watches still being polled (a slow read must not lose them)."""
        while True:
            await asyncio.sleep(self._lease.total_seconds() / 3)
            try:
                await self._watches.renew(
                    self._owner, set(self._in_flight), self._clock() + self._lease
                )
            except Exception:
                logger.warning("watcher.lease.renew_failed")

    async def _guarded(self, watch: WatchRecord, read: Read) -> None:
        async with self._limit:
            try:
                await self.poll(watch, read)
            except _LeaseLost:
                logger.warning("watcher.lease.lost", extra={"watch_id": watch.watch_id})
            except _Deferred:
                logger.warning("watcher.post.deferred", extra={"watch_id": watch.watch_id})
            except Exception:
                logger.exception("watcher.poll.crashed", extra={"watch_id": watch.watch_id})
            finally:
                self._in_flight.discard(watch.watch_id)

    async def poll(self, watch: WatchRecord, workflow: Read) -> None:
        """Report on one watch from its workflow as just read (or why it could not be)."""
        version = watch.version
        now = self._clock()
        if watch.pending_key is not None:
            watch, version = await self._settle_pending(watch, version, now)
            if watch.state != "open":
                await self._write(watch, version, lease_until=None)
                return
        if isinstance(workflow, CCENotFound):
            text = (
                f":grey_question: The workflow is gone (the API answered 404"
                f"{_rid(workflow)}), so I stopped watching it."
            )
            await self._close(watch, version, text, {})
            return
        if isinstance(workflow, CCEError):
            await self._failed(watch, version, now, workflow)
            return
        shown = Snapshot.from_dict(watch.last_reported)
        if self._unchanged(watch, workflow, shown, now):
            self._quiet.append((watch.watch_id, version, self._next_due(watch, now, shown)))
            return
        try:
            parsed = workflow.parsed()
        except CCEResponseInvalid as exc:
            await self._failed(watch, version, now, exc)
            return
        if watch.warned:
            text = ":white_check_mark: The CCE API answers again; watching resumes."
            cleared = {"errors": 0, "failing_since": None, "warned": False}
            watch, version = await self._say(watch, version, text, cleared)
        elif watch.errors:
            version = await self._write(watch, version, errors=0, failing_since=None)
            watch = replace(watch, errors=0, failing_since=None)
        told = await self._report(watch, version, shown, snapshot(parsed), now)
        if told is None:
            self._seen.pop(watch.watch_id, None)
        else:
            self._seen[watch.watch_id] = (workflow.digest, told)
            self._seen.move_to_end(watch.watch_id)
            if len(self._seen) > SEEN_AT_MOST:  # watches closed by another replica linger
                self._seen.popitem(last=False)

    def _unchanged(
        self, watch: WatchRecord, workflow: Workflow, shown: Snapshot, now: datetime
    ) -> bool:
        """Nothing can have changed since this process last reported on the watch: the API's
        answer is the same, nothing is pending or failing, and no time-based ending is near."""
        if self._seen.get(watch.watch_id) != (workflow.digest, shown):
            return False
        if watch.pending_key is not None or watch.errors or watch.warned:
            return False
        if now - watch.started_at >= self._config.max_duration:
            return False
        return not rollback_expected(shown)

    async def _report(
        self, watch: WatchRecord, version: int, shown: Snapshot, new: Snapshot, now: datetime
    ) -> Snapshot | None:
        """Report what changed since `shown` (what the thread tells); what the thread tells
        now (None: not all of it, or closed)."""
        changes = diff(shown, new)
        for change in changes:
            after = apply(shown, change)
            watch, version, ok = await self._post(
                watch, version, render_change(change), {"last_reported": after.to_dict()}
            )
            if not ok:  # Slack refused it: say it again next interval; nothing lost
                await self._retry_later(watch, version, now)
                return None
            shown = after
        if changes:
            await self._roots.progressed(watch, new)
        cancel_seen = watch.cancel_seen_at
        if cancel_seen is None and (new.phase or "").lower() == "cancel":
            cancel_seen = now
            version = await self._write(watch, version, cancel_seen_at=now)
        settled = settlement(
            new,
            cancelled_for=None if cancel_seen is None else now - cancel_seen,
            rollback_grace=self._config.rollback_grace,
        )
        if settled is not None:
            summary = render_summary(new, watch.started_at, now, settled)
            await self._close(watch, version, summary, {"last_reported": new.to_dict()})
            logger.info("watcher.settled", extra={"watch_id": watch.watch_id})
            return None
        elif now - watch.started_at >= self._config.max_duration:
            await self._give_up(watch, version, new.phase)
            return None
        elif not changes and new == shown and cancel_seen == watch.cancel_seen_at:
            self._quiet.append((watch.watch_id, version, self._next_due(watch, now, new)))
        else:
            await self._write(
                watch,
                version,
                last_reported=new.to_dict(),
                next_due_at=self._next_due(watch, now, new),
                lease_until=None,
            )
        return new

    def _next_due(self, watch: WatchRecord, now: datetime, snap: Snapshot) -> datetime:
        return next_poll(watch.cluster_id, now, snap, self._config)

    async def _give_up(self, watch: WatchRecord, version: int, phase: str | None) -> None:
        """`watch.max_duration` has passed: say so, and how to pick it up again."""
        where = escape(watch.cluster_alias or watch.cluster_id)
        last = f"the workflow was last seen in phase {escape(phase)}" if phase else "no phase known"
        text = (
            f":zzz: Stopped watching after {format_duration(self._config.max_duration)}; {last}. "
            f"To resume: `/cce-upgrade watch {where} {watch.workflow_id}`"
        )
        await self._close(watch, version, text, {})

    async def _failed(self, watch: WatchRecord, version: int, now: datetime, exc: CCEError) -> None:
        errors = watch.errors + 1
        self._metrics.poll_error()
        logger.warning(
            "watcher.poll.failed", extra={"watch_id": watch.watch_id, "status": type(exc).__name__}
        )
        if now - watch.started_at >= self._config.max_duration:
            await self._give_up(watch, version, Snapshot.from_dict(watch.last_reported).phase)
            return
        since = watch.failing_since or now
        backoff = min(self._config.interval * (2 ** min(errors - 1, 6)), timedelta(minutes=2))
        version = await self._write(watch, version, errors=errors, failing_since=since)
        watch = replace(watch, errors=errors, failing_since=since)
        if not watch.warned and now - since >= self._config.outage_warning_after:
            text = (
                f":warning: The CCE API has been failing for {format_duration(now - since)} "
                f"({escape(type(exc).__name__)}{_rid(exc)}). I keep trying and will say when it "
                "recovers."
            )
            watch, version = await self._say(watch, version, text, {"warned": True})
        await self._write(watch, version, next_due_at=now + backoff, lease_until=None)

    # -- posting through the one delivery path ----------------------------------------------

    async def _post(
        self, watch: WatchRecord, version: int, text: str, after: dict[str, Any]
    ) -> tuple[WatchRecord, int, bool]:
        """Post `text` in the thread once, then record `after` on the watch; (watch, version,
        whether it was posted). Not posted: Slack refused it, and its key is skipped so a later
        post is fresh. Raises `_Deferred` when Slack's answer was lost (the next poll settles it).
        """
        key = f"{watch.watch_id}/{watch.posts}"
        after = {**after, "posts": watch.posts + 1, "pending_key": None}
        version = await self._write(watch, version, pending_key=key)
        post = NewDelivery(key, watch.channel_id, text, thread_ts=watch.thread_ts, after=after)
        try:
            delivered = await self._delivery.send(post)
        except SlackPostError:
            logger.warning("watcher.post.failed", extra={"watch_id": watch.watch_id})
            skipped: dict[str, Any] = {"pending_key": None, "posts": watch.posts + 1}
            version = await self._write(watch, version, **skipped)
            return replace(watch, **skipped), version, False
        except (DeliveryUncertain, DeliveryBusy):
            await self._retry_later(watch, version, self._clock())
            raise _Deferred() from None
        watch, version = await self._apply(watch, version, delivered.after or after)
        return watch, version, True

    async def _say(
        self, watch: WatchRecord, version: int, text: str, after: dict[str, Any]
    ) -> tuple[WatchRecord, int]:
        """A notice posted once, then `after` recorded; a refused one is logged, not retried."""
        watch, version, ok = await self._post(watch, version, text, after)
        if not ok:
            watch, version = await self._apply(watch, version, after)
        return watch, version

    async def _close(
        self, watch: WatchRecord, version: int, text: str, after: dict[str, Any]
    ) -> None:
        """The last post of a watch (a summary, a 404, the time limit); then it is closed."""
        watch, version = await self._say(watch, version, text, {**after, "state": "closed"})
        await self._write(watch, version, state="closed", lease_until=None)

    async def _settle_pending(
        self, watch: WatchRecord, version: int, now: datetime
    ) -> tuple[WatchRecord, int]:
        """A post begun earlier whose delivery this watch has not recorded: settle it first."""
        key = str(watch.pending_key)
        try:
            delivered = await self._delivery.settle(key)
        except SlackPostError:  # refused when sent again: skip it, the next poll says it anew
            version = await self._write(watch, version, pending_key=None, posts=watch.posts + 1)
            return replace(watch, pending_key=None, posts=watch.posts + 1), version
        except (DeliveryUncertain, DeliveryBusy):
            await self._retry_later(watch, version, now)
            raise _Deferred() from None
        logger.info(
            "watcher.post.resumed",
            extra={"watch_id": watch.watch_id, "status": "settled" if delivered else "unsent"},
        )
        if delivered is None:  # killed before the post was written down: nothing was sent
            version = await self._write(watch, version, pending_key=None)
            return replace(watch, pending_key=None), version
        return await self._apply(watch, version, delivered.after or {"pending_key": None})

    async def _apply(
        self, watch: WatchRecord, version: int, after: dict[str, Any]
    ) -> tuple[WatchRecord, int]:
        fields = _fields(after)
        fields.setdefault("pending_key", None)
        version = await self._write(watch, version, **fields)
        return replace(watch, **fields), version

    async def _retry_later(self, watch: WatchRecord, version: int, now: datetime) -> None:
        await self._write(watch, version, next_due_at=now + self._config.interval, lease_until=None)

    async def _write(self, watch: WatchRecord, version: int, **values: object) -> int:
        if not await self._watches.advance(watch.watch_id, self._owner, version, **values):
            raise _LeaseLost()
        return version + 1


def _ref(watch: WatchRecord) -> ClusterRef:
    return ClusterRef(watch.project_id, watch.cluster_id, watch.endpoint)


def _fields(after: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in after.items() if k in _AFTER_FIELDS}


def _rid(exc: CCEError) -> str:
    return f", request id `{escape(exc.request_id)}`" if exc.request_id else ""
