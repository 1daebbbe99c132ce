"""What is worth an alert (SPEC §10.3): a task of an unsettled workflow that failed, and a
running workflow that has shown no change for too long. Pure: the caller passes the time of the
workflow's last change (as the API reported it) and the clock's now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from bot.domain.durations import format_duration
from bot.domain.snapshot import Snapshot

__all__ = ["Condition", "Finding", "findings"]

_OVER = ("success", "cancel")  # a workflow in these phases is being (or has been) dealt with


class Condition(StrEnum):
    FAILED = "failed"
    STALLED = "stalled"


@dataclass(frozen=True)
class Finding:
    """One condition found: what happened, in words, and when (the API's time, as written)."""

    condition: Condition
    what: str
    at: str | None


def findings(
    snap: Snapshot,
    *,
    now: datetime,
    last_change: datetime | None,
    stalled_after: timedelta,
) -> list[Finding]:
    """The conditions this workflow shows now (each is alerted once, ever, by the caller)."""
    phase = (snap.phase or "").strip().lower()
    if phase in _OVER:
        return []
    found: list[Finding] = []
    failed = [t for t in snap.tasks if (t.status or "").strip().lower() == "failed"]
    if failed:
        names = ", ".join(t.task_type for t in failed)
        at = failed[0].end or failed[0].start
        found.append(Finding(Condition.FAILED, f"Task {names} failed", at))
    if phase == "running" and last_change is not None and now - last_change >= stalled_after:
        quiet = format_duration(now - last_change)
        found.append(
            Finding(Condition.STALLED, f"Running with no change for {quiet}", snap.updated)
        )
    return found
