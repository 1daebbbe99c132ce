"""Telling the story of a request that has ended: in its message and its thread, once.

After a cancel: the outcome reply, then whatever the cancel's answer shows that the message did
not when the lead approved (SPEC §5's narrative rule), then a watch in the thread. After a
request ended without one: its final message and, when it failed, why. Every reply carries a
key derived from the request, so a step re-run after a crash posts nothing twice.
"""

from __future__ import annotations

from typing import Protocol

from bot.approval.message import RequestMessage
from bot.domain.approvals import ApprovalState
from bot.domain.progress import diff
from bot.domain.snapshot import Snapshot
from bot.slack.replies import render_change
from bot.store.records import ApprovalRecord

__all__ = ["Outcomes", "WatchOpener"]


class WatchOpener(Protocol):
    """Opens the watch that follows a cancelled workflow in its request's thread."""

    async def after_cancel(self, rec: ApprovalRecord, shown: Snapshot) -> None: ...


class Outcomes:
    def __init__(self, *, message: RequestMessage, watches: WatchOpener) -> None:
        self._message = message
        self._watches = watches

    async def follow_up(self, rec: ApprovalRecord) -> None:
        """The cancel was accepted: say so, say what changed since approval, then watch."""
        await self._message.show(rec.approval_id)
        if rec.outcome:
            await self._message.reply(rec, f"{rec.approval_id}:outcome", rec.outcome)
        baseline = Snapshot.from_dict(rec.baseline or {})
        answer = Snapshot.from_dict(rec.answer or rec.summary)
        if rec.baseline:
            # The outcome reply names the phase the API answered; the tasks are told here.
            changes = [c for c in diff(baseline, answer) if c.task_type is not None]
            for i, change in enumerate(changes):
                await self._message.reply(
                    rec, f"{rec.approval_id}:change:{i}", render_change(change)
                )
        await self._watches.after_cancel(rec, answer)

    async def show_ended(self, rec: ApprovalRecord) -> None:
        """Ended without a cancel: the final message, and the reason when it failed."""
        await self._message.show(rec.approval_id)
        if rec.state == ApprovalState.FAILED and rec.outcome:
            await self._message.reply(rec, f"{rec.approval_id}:outcome", rec.outcome)
