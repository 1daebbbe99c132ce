"""Leases on requests' work (SPEC §5a): held and renewed while a process works on a request.

Another process, or this one after a restart, takes the work over only once the lease has
lapsed, so a slow cancel is never settled underneath its live owner, and a killed owner's work
goes on within one lease of the restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

from bot.store.requests import RequestStore

__all__ = ["Leases"]

logger = logging.getLogger(__name__)


class Leases:
    def __init__(
        self,
        requests: RequestStore,
        *,
        owner: str,
        clock: Callable[[], datetime],
        lease: timedelta,
    ) -> None:
        self.owner = owner
        self._requests = requests
        self._clock = clock
        self._lease = lease

    def until(self) -> datetime:
        """When a lease taken or renewed now lapses."""
        return self._clock() + self._lease

    async def claim(self, approval_id: str) -> bool:
        now = self._clock()
        return await self._requests.claim(approval_id, self.owner, now, now + self._lease)

    async def release(self, approval_id: str, **values: Any) -> bool:
        return await self._requests.release(approval_id, self.owner, **values)

    @contextlib.asynccontextmanager
    async def held(self, approval_id: str) -> AsyncIterator[None]:
        """Keep renewing this process's lease on the request while the block runs.

        The lease is taken before (by a claim or the transition that gave the work to this
        process) and given up after, by the caller; this only keeps it alive in between.
        """
        renewing = asyncio.create_task(self._renew(approval_id))
        try:
            yield
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing

    async def _renew(self, approval_id: str) -> None:
        every = self._lease.total_seconds() / 3
        while True:
            await asyncio.sleep(every)
            try:
                held = await self._requests.renew(self.owner, [approval_id], self.until())
            except Exception:  # the database is away: the lease may lapse; writes will tell
                logger.warning("approval.lease.renew_failed", extra={"approval_id": approval_id})
                continue
            if approval_id not in held:
                logger.warning("approval.lease.lost", extra={"approval_id": approval_id})
                return
