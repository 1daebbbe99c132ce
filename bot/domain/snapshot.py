"""A compact, comparable snapshot of a workflow: phase, versions, each task's status and times,
and the lines of its task graph.

It is what the request message shows, what a watch stores as "last reported", and what two
polls are compared on. Pure: built from the wire model by `bot.cce.snapshots`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["ACTIVE_TASK_STATUSES", "GraphLine", "Snapshot", "TaskLine"]

# A task in progress: it blocks a cancel, and a workflow with one has not settled.
ACTIVE_TASK_STATUSES = frozenset({"running", "init", "pause", "queuing", "queue"})


@dataclass(frozen=True)
class TaskLine:
    task_type: str
    status: str | None = None
    start: str | None = None
    end: str | None = None


@dataclass(frozen=True)
class GraphLine:
    """An edge of the task graph (`lineStatuses`); a critical one must run before a cancel."""

    start: str | None
    end: str | None
    critical: bool = False


@dataclass(frozen=True)
class Snapshot:
    phase: str | None
    cluster_version: str | None = None
    target_version: str | None = None
    tasks: tuple[TaskLine, ...] = field(default_factory=tuple)
    updated: str | None = None  # the workflow's updateTimestamp, as the API wrote it
    lines: tuple[GraphLine, ...] = field(default_factory=tuple)

    def task(self, task_type: str) -> TaskLine | None:
        return next((t for t in self.tasks if t.task_type == task_type), None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Snapshot:
        if not data:
            return cls(phase=None)
        return cls(
            phase=data.get("phase"),
            cluster_version=data.get("cluster_version"),
            target_version=data.get("target_version"),
            tasks=tuple(TaskLine(**t) for t in data.get("tasks", ())),
            updated=data.get("updated"),
            lines=tuple(GraphLine(**line) for line in data.get("lines", ())),
        )
