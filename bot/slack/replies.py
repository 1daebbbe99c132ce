"""The texts of thread replies about a workflow's progress: one change, and the closing summary."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.domain.durations import format_duration
from bot.domain.progress import Change, Settlement
from bot.domain.snapshot import Snapshot
from bot.slack.blocks import escape, short_time, task_icon

__all__ = ["render_change", "render_summary"]


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


def render_summary(
    snap: Snapshot, started: datetime, now: datetime, settled: Settlement | None = None
) -> str:
    """The closing reply when the workflow has settled."""
    outcome = "\n".join(
        f"{task_icon(t.status)} {escape(t.task_type)}: {_status(t.status)}" for t in snap.tasks
    )
    took = format_duration(max(now - started, timedelta(0)))
    note = ""
    if settled is not None and settled.rollback_not_started:
        note = (
            "\nThe Rollback task is listed but did not start after the cancel, so it is not coming."
        )
    return (
        f":checkered_flag: The workflow has settled in phase *{_status(snap.phase)}* "
        f"(watched for {took}).\n{outcome}{note}\nStopped watching."
    )
