"""The simulated API's pure rules: the task order, scripted steps and lines, and cancel refusal.

No state, no clock, no HTTP; `world` plays these rules and imports nothing else from the
simulator. Never imports `bot.domain.cancellability` (the simulator checks cancels itself).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["ACTIVE_STATUSES", "TASK_ORDER", "Line", "Step", "cancel_refusal", "chain"]

TASK_ORDER = ("PreCheck", "Snapshot", "Cluster", "PostCheck")
ACTIVE_STATUSES = {"running", "init", "pause", "queuing", "queue"}


@dataclass(frozen=True)
class Step:
    """One scripted change: task `task_type` takes `status` (None clears it)."""

    task_type: str
    status: str | None


@dataclass(frozen=True)
class Line:
    start: str
    end: str
    critical: bool | None = None


def chain(task_types: Sequence[str] = TASK_ORDER) -> list[Line]:
    """The default lines: each task to the next, none marked critical."""
    return [Line(a, b) for a, b in itertools.pairwise(task_types)]


def cancel_refusal(
    phase: str, points: Iterable[tuple[str, str | None]], lines: Iterable[Line]
) -> str | None:
    """Why the API refuses a cancel, or None: the rules of reference §2.1, checked independently."""
    if phase.strip().lower() not in {"init", "pending"}:
        return f"workflow phase is {phase}, a cancel is accepted only in phase Init or Pending"
    statuses = {task.lower(): status for task, status in points}
    for task, status in statuses.items():
        if status and status.strip().lower() in ACTIVE_STATUSES:
            return f"task {task} is {status}"
    for line in lines:
        if line.critical and not statuses.get(line.end.lower()):
            return f"critical line {line.start} -> {line.end} has not been executed"
    return None
