"""A compact, comparable snapshot of a workflow: phase, versions and each task's status/times.

It is what the request message shows, what a watch stores as "last reported", and what two
polls are compared on. Pure: no Slack, no HTTP.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from bot.cancellability import ACTIVE_TASK_STATUSES
from bot.cce.models import WorkflowTask, format_api_time

__all__ = ["Snapshot", "TaskLine", "snapshot"]

_SETTLED_PHASES = {"cancel", "success"}


@dataclass(frozen=True)
class TaskLine:
    task_type: str
    status: str | None = None
    start: str | None = None
    end: str | None = None


@dataclass(frozen=True)
class Snapshot:
    phase: str | None
    cluster_version: str | None = None
    target_version: str | None = None
    tasks: tuple[TaskLine, ...] = field(default_factory=tuple)
    updated: str | None = None  # the workflow's updateTimestamp, as the API wrote it

    @property
    def settled(self) -> bool:
        """SPEC §5: phase Cancel or Success and no task running.

        A Rollback task that is listed but has not finished also counts as running: after a
        cancel it is the one task still to come, and stopping before it would miss it.
        """
        if (self.phase or "").lower() not in _SETTLED_PHASES:
            return False
        for task in self.tasks:
            status = (task.status or "").lower()
            if status in ACTIVE_TASK_STATUSES:
                return False
            if task.task_type.lower() == "rollback" and status not in ("success", "failed"):
                return False
        return True

    def task(self, task_type: str) -> TaskLine | None:
        return next((t for t in self.tasks if t.task_type == task_type), None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Snapshot:
        if not data:
            return cls(phase=None)
        tasks = tuple(TaskLine(**t) for t in data.get("tasks", ()))
        return cls(
            phase=data.get("phase"),
            cluster_version=data.get("cluster_version"),
            target_version=data.get("target_version"),
            tasks=tasks,
            updated=data.get("updated"),
        )


def _time(value: datetime | str | None) -> str | None:
    return None if value is None else format_api_time(value)


def snapshot(workflow: WorkflowTask) -> Snapshot:
    """The parts of a workflow the bot reports on."""
    tasks = tuple(
        TaskLine(
            task_type=p.task_type or "?",
            status=p.status,
            start=_time(p.start_time_stamp),
            end=_time(p.end_time_stamp),
        )
        for p in workflow.status.point_statuses
    )
    return Snapshot(
        phase=workflow.status.phase,
        cluster_version=workflow.spec.cluster_version,
        target_version=workflow.spec.target_version,
        tasks=tasks,
        updated=_time(workflow.metadata.update_timestamp),
    )
