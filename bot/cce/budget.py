"""The process's budget of requests per second to the CCE API, shared by every caller (SPEC §6).

A token bucket with one ordered wait queue: the cancel first, then interactive callers
(commands), then background ones (polls, alerts), first come first served within each. Every
wait is bounded. A 429's Retry-After blocks its endpoint for every caller, not only the one that
got it. Imports nothing from the bot but its errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Protocol

from bot.cce.errors import CCEThrottled

__all__ = ["Budget", "BudgetObserver", "Priority"]


class Priority(IntEnum):
    """Who goes first when the budget is spent; lower goes first."""

    URGENT = 0  # the cancel (PATCH): never queued behind reads
    INTERACTIVE = 1  # a person is waiting: commands, the modal
    BACKGROUND = 2  # polls and alerts


class BudgetObserver(Protocol):
    """Told how many requests wait for the budget, and how long each one waited."""

    def budget_waiting(self, count: int) -> None: ...

    def budget_waited(self, priority: str, seconds: float) -> None: ...


@dataclass(order=True)
class _Waiter:
    priority: int
    seq: int
    host: str = field(compare=False)
    future: asyncio.Future[None] = field(compare=False)


class Budget:
    """`rate` requests per second for the whole process, with bursts of up to `burst`.

    `acquire` returns when the caller may send; it raises `CCEThrottled` (nothing sent) when
    the wait would pass `max_wait`. `block(host, seconds)` holds back every request to that
    endpoint (a 429's Retry-After, capped at `max_block`).
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: float | None = None,
        max_wait: float = 30.0,
        max_block: float = 60.0,
        default_block: float = 1.0,
        observer: BudgetObserver | None = None,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        # A quarter of a second's worth at once: a command's two or three reads go out
        # together, and no one-second window sees more than `rate` plus this burst.
        self.burst = burst if burst is not None else max(1.0, rate / 4)
        self._max_wait = max_wait
        self._max_block = max_block
        self._default_block = default_block
        self._observer = observer
        self._tokens = self.burst
        self._stamp: float | None = None
        self._blocked: dict[str, float] = {}
        self._queues: dict[str, list[_Waiter]] = {}
        self._waiting = 0
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._pump_task: asyncio.Task[None] | None = None

    @property
    def waiting(self) -> int:
        """Requests waiting for the budget right now."""
        return self._waiting

    async def acquire(self, host: str, priority: Priority) -> None:
        """Wait for this request's turn to `host`; `CCEThrottled` if that would take too long."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if not self._waiting and self._blocked.get(host, 0.0) <= now and self._take(now):
            self._observed(priority, 0.0)
            return
        blocked_for = self._blocked.get(host, 0.0) - now
        if blocked_for > self._max_wait:
            raise CCEThrottled(
                f"the API asked the bot to slow down (429) for {blocked_for:.0f} s more; not sent"
            )
        waiter = _Waiter(priority, next(self._seq), host, loop.create_future())
        heapq.heappush(self._queues.setdefault(host, []), waiter)
        self._count(+1)
        self._wake.set()
        if self._pump_task is None or self._pump_task.done():
            self._pump_task = loop.create_task(self._pump())
        try:
            async with asyncio.timeout(self._max_wait):
                await waiter.future
        except TimeoutError:
            raise CCEThrottled(
                f"no room in the request budget ({self.rate:g}/s) within {self._max_wait:g} s; "
                "not sent"
            ) from None
        finally:
            # Timed out or cancelled (which cancels the future too): leave the queue.
            if not waiter.future.done() or waiter.future.cancelled():
                waiter.future.cancel()
                self._count(-1)
        self._observed(priority, loop.time() - now)

    def block(self, host: str, seconds: float | None) -> None:
        """Hold back every request to `host` for `seconds` (None: a default pause)."""
        pause = self._default_block if seconds is None else seconds
        until = asyncio.get_running_loop().time() + min(max(pause, 0.0), self._max_block)
        if until > self._blocked.get(host, 0.0):
            self._blocked[host] = until
            self._wake.set()

    async def aclose(self) -> None:
        """Stop serving the queue; whoever still waits is told the request was not sent."""
        if self._pump_task is not None:
            self._pump_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump_task
        for queue in self._queues.values():
            for waiter in queue:
                if not waiter.future.done():
                    waiter.future.set_exception(CCEThrottled("the CCE client is closing"))
            queue.clear()

    # -- internals ----------------------------------------------------------------------------

    def _take(self, now: float) -> bool:
        if self._stamp is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def _count(self, delta: int) -> None:
        self._waiting += delta
        if self._observer is not None:
            self._observer.budget_waiting(self._waiting)

    def _observed(self, priority: Priority, seconds: float) -> None:
        if self._observer is not None:
            self._observer.budget_waited(priority.name.lower(), seconds)

    def _next(self, now: float) -> tuple[_Waiter | None, float | None]:
        """The first waiter of an unblocked endpoint, or when the first endpoint unblocks."""
        best: _Waiter | None = None
        unblock: float | None = None
        for host, queue in self._queues.items():
            while queue and queue[0].future.done():  # gave up waiting
                heapq.heappop(queue)
            if not queue:
                continue
            until = self._blocked.get(host, 0.0)
            if until > now:
                unblock = until if unblock is None else min(unblock, until)
            elif best is None or queue[0] < best:
                best = queue[0]
        return best, unblock

    async def _pump(self) -> None:
        """Hand out tokens in priority order while anyone waits; one pump per budget."""
        loop = asyncio.get_running_loop()
        while self._waiting:
            now = loop.time()
            head, unblock = self._next(now)
            if head is not None and self._take(now):
                heapq.heappop(self._queues[head.host])
                self._count(-1)
                head.future.set_result(None)
                continue
            if head is not None:
                delay = (1.0 - self._tokens) / self.rate
            else:
                delay = (unblock - now) if unblock is not None else self._max_wait
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(delay, 0.0)):
                    await self._wake.wait()
