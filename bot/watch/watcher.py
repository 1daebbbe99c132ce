"""The poller (SPEC §5): each tick claims due watches, reads them, posts what changed, once.

Each change is posted as a thread reply and, right after Slack accepts it, written to the store
as "reported" with a compare-and-set on the watch's lease and version. A restart therefore
resumes from what was last reported; a replica that lost its lease stops writing.

The window between Slack taking a post and the store recording it is closed by writing the
post first (`pending_post`, with a key the post carries as message metadata). A pending post
found on the next poll means the answer was lost (a kill, a timeout): the thread is searched for
the key and the post is made only if it is not there. Without a history scope the search is
refused; the post is then made again, marked as possibly repeated.
`tick()` never raises: each watch is handled on its own, failures logged and retried later.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from bot.cce.client import CCEClient
from bot.cce.endpoints import ClusterRef
from bot.cce.errors import CCEError, CCENotFound
from bot.cce.snapshots import snapshot
from bot.config import WatchConfig
from bot.domain.durations import format_duration
from bot.domain.progress import apply, diff, settlement
from bot.domain.snapshot import Snapshot
from bot.metrics import Metrics
from bot.slack.blocks import escape
from bot.slack.poster import Poster, SlackPostError, SlackPostUncertain
from bot.slack.replies import render_change, render_summary
from bot.store import NewWatch, Store, WatchRecord

__all__ = ["Watcher"]

logger = logging.getLogger(__name__)

OnProgress = Callable[[WatchRecord, Snapshot], Awaitable[None]]
"""Called after a poll reported changes, to keep the root message's status current."""

RESENT_NOTE = "\n_(sent again after a restart: if the reply above says the same, it came twice)_"


class _LeaseLost(Exception):
    pass


class _Deferred(Exception):
    """A post's outcome is unknown; it stays pending and the next poll settles it."""


class Watcher:
    def __init__(
        self,
        *,
        cce: CCEClient,
        store: Store,
        poster: Poster,
        config: WatchConfig,
        clock: Callable[[], datetime],
        owner: str,
        on_progress: OnProgress | None = None,
        lease: timedelta | None = None,
        batch: int = 500,
        metrics: Metrics | None = None,
    ) -> None:
        self.cce = cce
        self.store = store
        self.poster = poster
        self.config = config
        self.clock = clock
        self.owner = owner
        self.on_progress = on_progress
        self.lease = lease or config.lease
        self.batch = batch
        self.metrics = metrics or Metrics()
        self._limit = asyncio.Semaphore(config.concurrency)
        self._quiet: list[tuple[str, int, datetime]] = []  # polls that found nothing new
        self._ticking = asyncio.Lock()

    async def start(
        self,
        *,
        cluster: ClusterRef,
        alias: str | None,
        workflow_id: str,
        channel_id: str,
        thread_ts: str,
        root_ts: str | None,
        approval_id: str | None,
        reported: Snapshot,
    ) -> str:
        """Open a watch whose thread already shows `reported`; the first poll is one interval on."""
        now = self.clock()
        watch_id = "w-" + secrets.token_hex(6)
        await self.store.create_watch(
            NewWatch(
                watch_id=watch_id,
                approval_id=approval_id,
                cluster_alias=alias,
                project_id=cluster.project_id,
                cluster_id=cluster.cluster_id,
                endpoint=cluster.endpoint,
                workflow_id=workflow_id,
                channel_id=channel_id,
                thread_ts=thread_ts,
                root_ts=root_ts,
                last_reported=reported.to_dict(),
                started_at=now,
                next_due_at=now + self.config.interval,
            )
        )
        logger.info("watcher.started", extra={"watch_id": watch_id, "workflow_id": workflow_id})
        return watch_id

    async def tick(self) -> int:
        """Poll every due watch this replica can claim; return how many were polled."""
        async with self._ticking:
            now = self.clock()
            try:
                due = await self.store.claim_due(self.owner, now, now + self.lease, self.batch)
            except Exception:
                logger.exception("watcher.claim.failed")
                return 0
            async with asyncio.TaskGroup() as group:
                for watch in due:
                    group.create_task(self._guarded(watch))
            quiet, self._quiet = self._quiet, []
            try:
                await self.store.release_quiet(self.owner, quiet)
            except Exception:  # the leases lapse and those watches are polled again; no loss
                logger.exception("watcher.release.failed")
            return len(due)

    async def drain(self) -> None:
        """Wait for a tick in progress to finish (before the client and store are closed)."""
        async with self._ticking:
            return

    def _next_due(self, watch: WatchRecord, now: datetime) -> datetime:
        # Keep the cadence: a poll that ran a little late must not push every later one back.
        return max(watch.next_due_at + self.config.interval, now)

    async def _guarded(self, watch: WatchRecord) -> None:
        async with self._limit:
            try:
                await self.poll(watch)
            except _LeaseLost:
                logger.warning("watcher.lease.lost", extra={"watch_id": watch.watch_id})
            except _Deferred:
                logger.warning("watcher.post.deferred", extra={"watch_id": watch.watch_id})
            except Exception:
                logger.exception("watcher.poll.crashed", extra={"watch_id": watch.watch_id})

    async def poll(self, watch: WatchRecord) -> None:
        ref = ClusterRef(watch.project_id, watch.cluster_id, watch.endpoint)
        version = watch.version
        now = self.clock()
        if watch.pending_post is not None:
            resumed = await self._resume_post(watch, version, now)
            if resumed is None:
                return
            watch, version = resumed
            if watch.state != "open":
                return
        try:
            workflow = await self.cce.show_workflow(ref, watch.workflow_id)
        except CCENotFound as exc:
            text = (
                f":grey_question: The workflow is gone (the API answered 404"
                f"{_rid(exc)}), so I stopped watching it."
            )
            await self._say_once(watch, version, text, {"state": "closed", "lease_until": None})
            return
        except CCEError as exc:
            await self._failed(watch, version, now, exc)
            return
        cleared: dict[str, Any] = {"errors": 0, "failing_since": None, "warned": False}
        if watch.warned:
            text = ":white_check_mark: The CCE API answers again; watching resumes."
            version = await self._say_once(watch, version, text, cleared)
        elif watch.errors:
            version = await self._write(watch, version, **cleared)
        await self._report(watch, version, snapshot(workflow), now)

    async def _report(self, watch: WatchRecord, version: int, new: Snapshot, now: datetime) -> None:
        shown = Snapshot.from_dict(watch.last_reported)
        changes = diff(shown, new)
        for change in changes:
            after = apply(shown, change)
            then = {"last_reported": after.to_dict()}
            version, posted = await self._post_once(watch, version, render_change(change), then)
            if not posted:
                # Not reported: keep what was shown and try again next interval; nothing lost.
                await self._retry_later(
                    watch, version, now, last_reported=shown.to_dict(), pending_post=None
                )
                return
            shown = after
        if changes and self.on_progress is not None:
            await self.on_progress(watch, new)
        settled = settlement(new, cancelled_for=None, rollback_grace=self.config.rollback_grace)
        if settled is not None:
            closed = {"state": "closed", "last_reported": new.to_dict(), "lease_until": None}
            summary = render_summary(new, watch.started_at, now, settled)
            await self._say_once(watch, version, summary, closed)
            logger.info("watcher.settled", extra={"watch_id": watch.watch_id})
        elif now - watch.started_at >= self.config.max_duration:
            await self._give_up(watch, version, new.phase)
        elif not changes and new == shown:
            self._quiet.append((watch.watch_id, version, self._next_due(watch, now)))
        else:
            await self._write(
                watch,
                version,
                last_reported=new.to_dict(),
                next_due_at=self._next_due(watch, now),
                lease_until=None,
            )

    async def _give_up(self, watch: WatchRecord, version: int, phase: str | None) -> None:
        """`watch.max_duration` has passed: say so, and how to pick it up again."""
        where = escape(watch.cluster_alias or watch.cluster_id)
        last = f"the workflow was last seen in phase {escape(phase)}" if phase else "no phase known"
        text = (
            f":zzz: Stopped watching after {format_duration(self.config.max_duration)}; {last}. "
            f"To resume: `/cce-upgrade watch {where} {watch.workflow_id}`"
        )
        await self._say_once(watch, version, text, {"state": "closed", "lease_until": None})

    async def _failed(self, watch: WatchRecord, version: int, now: datetime, exc: CCEError) -> None:
        errors = watch.errors + 1
        self.metrics.poll_error()
        if now - watch.started_at >= self.config.max_duration:
            shown = Snapshot.from_dict(watch.last_reported)
            await self._give_up(watch, version, shown.phase)
            return
        since = watch.failing_since or now
        warn = not watch.warned and now - since >= self.config.outage_warning_after
        if warn:
            await self._say(
                watch,
                f":warning: The CCE API has been failing for "
                f"{format_duration(now - since)} ({escape(type(exc).__name__)}"
                f"{_rid(exc)}). I keep trying and will say when it recovers.",
            )
        backoff = min(self.config.interval * (2 ** min(errors - 1, 6)), timedelta(minutes=2))
        logger.warning(
            "watcher.poll.failed", extra={"watch_id": watch.watch_id, "status": type(exc).__name__}
        )
        await self._write(
            watch,
            version,
            errors=errors,
            failing_since=since,
            warned=watch.warned or warn,
            next_due_at=now + backoff,
            lease_until=None,
        )

    async def _post_once(
        self, watch: WatchRecord, version: int, text: str, then: dict[str, Any]
    ) -> tuple[int, bool]:
        """Post `text` in the thread, then write `then` (JSON values); False: Slack refused it.

        The post is written down first, under a key it carries, so that if its answer is lost
        the next poll finds it in the thread instead of posting it again (`_resume_post`).
        """
        key = f"{watch.watch_id}:{version}"
        pending = {"key": key, "text": text, "then": then}
        version = await self._write(watch, version, pending_post=pending)
        try:
            await self.poster.post(watch.channel_id, text, thread_ts=watch.thread_ts, key=key)
        except SlackPostError:
            return version, False
        except SlackPostUncertain:
            await self._retry_later(watch, version, self.clock())
            raise _Deferred() from None
        return await self._write(watch, version, pending_post=None, **then), True

    async def _say_once(
        self, watch: WatchRecord, version: int, text: str, then: dict[str, Any]
    ) -> int:
        """A notice posted once, then `then` written; a refused post is logged, not retried."""
        version, posted = await self._post_once(watch, version, text, then)
        if not posted:
            logger.warning("watcher.post.failed", extra={"watch_id": watch.watch_id})
            version = await self._write(watch, version, pending_post=None, **then)
        return version

    async def _resume_post(
        self, watch: WatchRecord, version: int, now: datetime
    ) -> tuple[WatchRecord, int] | None:
        """Settle a post whose answer never came: find it in the thread, or post it now.

        Returns the watch as it stands after the post's `then`, or None when it is still
        unsettled (Slack refused or did not answer; it stays pending for the next interval).
        """
        pending = watch.pending_post or {}
        key, text = str(pending.get("key")), str(pending.get("text"))
        then: dict[str, Any] = dict(pending.get("then") or {})
        try:
            found, verified = await self._find(watch, key)
            if found is None:
                note = "" if verified else RESENT_NOTE
                await self.poster.post(
                    watch.channel_id, text + note, thread_ts=watch.thread_ts, key=key
                )
        except (SlackPostError, SlackPostUncertain):
            await self._retry_later(watch, version, now)
            return None
        logger.info(
            "watcher.post.resumed",
            extra={"watch_id": watch.watch_id, "status": "found" if found else "posted"},
        )
        version = await self._write(watch, version, pending_post=None, **then)
        fields = {k: v for k, v in then.items() if k in _RECORD_FIELDS}
        return replace(watch, pending_post=None, **fields), version

    async def _find(self, watch: WatchRecord, key: str) -> tuple[str | None, bool]:
        """(ts or None, whether the thread could be read at all). Uncertain answers raise."""
        try:
            return await self.poster.find_reply(watch.channel_id, watch.thread_ts, key), True
        except SlackPostError as exc:  # most likely missing_scope: no channels:history
            logger.warning(
                "watcher.post.unverified", extra={"watch_id": watch.watch_id, "status": exc.error}
            )
            return None, False

    async def _retry_later(
        self, watch: WatchRecord, version: int, now: datetime, **values: Any
    ) -> None:
        await self._write(
            watch, version, next_due_at=now + self.config.interval, lease_until=None, **values
        )

    async def _say(self, watch: WatchRecord, text: str) -> None:
        try:
            await self.poster.post(watch.channel_id, text, thread_ts=watch.thread_ts)
        except SlackPostError:
            logger.warning("watcher.post.failed", extra={"watch_id": watch.watch_id})

    async def _write(self, watch: WatchRecord, version: int, **values: object) -> int:
        if not await self.store.advance_watch(watch.watch_id, self.owner, version, **values):
            raise _LeaseLost()
        return version + 1


_RECORD_FIELDS = frozenset({"state", "last_reported", "errors", "failing_since", "warned"})


def _rid(exc: CCEError) -> str:
    return f", request id `{escape(exc.request_id)}`" if exc.request_id else ""
