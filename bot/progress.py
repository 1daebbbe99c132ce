"""What changed between two snapshots of a workflow, and how each change reads in a thread.

Pure: the watcher stores snapshots and posts these texts; nothing here knows Slack or HTTP.
A change is a task's status or the workflow's phase; times and unchanged tasks are not changes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.blocks import escape, short_time, task_icon
from bot.durations import format_duration
from bot.timeline import Snapshot, TaskLine

__all__ = ["Change", "apply", "diff", "render_change", "render_summary"]


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
        at = task.end if _norm(task.status) in ("success", "failed") and task.end else task.start
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


def _status(value: str | None) -> str:
    return escape(value) if value else "not started"


def _when(at: str | None) -> str:
    return f" at {short_time(at)} UTC" if at else ""


def render_change(change: Change) -> str:
    """One thread reply, e.g. `❌ Cluster: Running → Failed at 07:58:35 UTC`."""
    if change.task_type is None:
        return (
            f":arrow_right: Workflow phase: *{_status(change.old)}* → *{_status(change.new)}*"
            f"{_when(change.at)}"
        )
    return (
        f"{task_icon(change.new)} *{escape(change.task_type)}*: {_status(change.old)} → "
        f"*{_status(change.new)}*{_when(change.at)}"
    )


def render_summary(snap: Snapshot, started: datetime, now: datetime) -> str:
    """The closing reply when the workflow has settled."""
    outcome = "\n".join(
        f"{task_icon(t.status)} {escape(t.task_type)}: {_status(t.status)}" for t in snap.tasks
    )
    took = format_duration(max(now - started, timedelta(0)))
    return (
        f":checkered_flag: The workflow has settled in phase *{_status(snap.phase)}* "
        f"(watched for {took}).\n{outcome}\nStopped watching."
    )
