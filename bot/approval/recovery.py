"""The recovery job: work a dead process left (its lease lapsed) is taken over and finished.

Runs every second or so with the expiry of overdue requests. Claiming is a conditional update on
the lease, so two processes never take the same request; what each found is logged by name.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from bot.approval.decisions import Decisions
from bot.approval.lease import Leases
from bot.approval.work import RequestWork
from bot.store.requests import RequestStore

__all__ = ["Recovery"]

logger = logging.getLogger(__name__)


class Recovery:
    def __init__(
        self,
        *,
        requests: RequestStore,
        leases: Leases,
        work: RequestWork,
        decisions: Decisions,
        clock: Callable[[], datetime],
        batch: int = 20,
    ) -> None:
        self._requests = requests
        self._leases = leases
        self._work = work
        self._decisions = decisions
        self._clock = clock
        self._batch = batch
        self._running = asyncio.Lock()

    async def tick(self) -> int:
        """Expire overdue requests, then take over and finish work whose lease has lapsed.

        Never raises: a failure is logged and the next run tries again.
        """
        async with self._running:
            return await self._tick()

    async def drain(self) -> None:
        """Wait for a run in progress to finish (before the clients and store are closed)."""
        async with self._running:
            return

    async def _tick(self) -> int:
        taken = 0
        try:
            await self._decisions.expire_due()
            for approval_id in await self._requests.claimable(self._clock(), self._batch):
                if not await self._leases.claim(approval_id):
                    continue  # another process took it first
                rec = await self._requests.get(approval_id)
                logger.warning(
                    "recovery.took_over",
                    extra={"approval_id": approval_id, "status": rec.work if rec else None},
                )
                await self._work.drive(approval_id)
                taken += 1
        except Exception:
            logger.exception("recovery.failed")
        return taken
