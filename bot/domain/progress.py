"""What changed between two snapshots of a workflow, and when a workflow has settled (SPEC §5).

Pure: the watcher stores snapshots and posts what `bot.slack.replies` makes of these changes.
A change is a task's status or the workflow's phase; times and unchanged tasks are not changes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from bot.domain.snapshot import ACTIVE_TASK_STATUSES, Snapshot, TaskLine

__all__ = ["Change", "Settlement", "apply", "diff", "settlement"]

_ENDED = ("success", "failed")


@dataclass(frozen=True)
class Change:
    """`task_type` None means the workflow phase changed."""

    task_type: str | None
    old: str | None
    new: str | None
    at: str | None  # the time the API reported for it, as the API wrote it
    task: TaskLine | None = None


def _norm(value: str | None) -> str:
    return (value or "").strip().lower()


def diff(old: Snapshot, new: Snapshot) -> list[Change]:
    """Task changes in the workflow's task order, then the phase change (if any)."""
    changes: list[Change] = []
    for task in new.tasks:
        before = old.task(task.task_type)
        old_status = before.status if before else None
        if _norm(old_status) == _norm(task.status):
            continue
        if before is None and task.status is None:
            continue  # a task appeared that has not started: nothing happened yet
        at = task.end if _norm(task.status) in _ENDED and task.end else task.start
        changes.append(Change(task.task_type, old_status, task.status, at, task))
    if _norm(old.phase) != _norm(new.phase):
        changes.append(Change(None, old.phase, new.phase, new.updated))
    return changes


def apply(snap: Snapshot, change: Change) -> Snapshot:
    """`snap` with one change reported: what the thread has shown after posting it."""
    if change.task_type is None:
        return replace(snap, phase=change.new, updated=change.at or snap.updated)
    task = change.task or TaskLine(change.task_type, change.new)
    tasks = list(snap.tasks)
    for i, existing in enumerate(tasks):
        if existing.task_type == change.task_type:
            tasks[i] = task
            break
    else:
        tasks.append(task)
    return replace(snap, tasks=tuple(tasks))


@dataclass(frozen=True)
class Settlement:
    """A settled workflow; `rollback_not_started` when a listed Rollback never came."""

    rollback_not_started: bool = False


def running(snap: Snapshot) -> bool:
    """Whether any task is in progress (Running, Init, Pause, Queuing/Queue)."""
    return any(_norm(t.status) in ACTIVE_TASK_STATUSES for t in snap.tasks)


def rollback_expected(snap: Snapshot) -> bool:
    """Phase Cancel with a listed Rollback that has not ended: it is still to come."""
    if _norm(snap.phase) != "cancel":
        return False
    return any(
        _norm(t.task_type) == "rollback" and _norm(t.status) not in _ENDED for t in snap.tasks
    )


def settlement(
    snap: Snapshot, *, cancelled_for: timedelta | None, rollback_grace: timedelta
) -> Settlement | None:
    """Whether the workflow has settled (SPEC §5), or None while it has not.

    `Success` settles once no task runs, whatever is listed without a status (the API lists
    points that never ran). `Cancel` settles once no task runs and no listed Rollback is still
    to come; a Rollback that has not started `rollback_grace` after the cancel is not coming.
    `cancelled_for` is how long ago the cancel was seen (None: not known, taken as just now).
    """
    phase = _norm(snap.phase)
    if phase not in ("success", "cancel") or running(snap):
        return None
    if phase == "success":
        return Settlement()
    rollbacks = [t for t in snap.tasks if _norm(t.task_type) == "rollback"]
    if all(_norm(t.status) in _ENDED for t in rollbacks):
        return Settlement()
    if any(t.status for t in rollbacks if _norm(t.status) not in _ENDED):
        return None  # started, in a state we do not know: wait for it to end
    if cancelled_for is not None and cancelled_for >= rollback_grace:
        return Settlement(rollback_not_started=True)
    return None


__all__ += ["rollback_expected", "running"]
