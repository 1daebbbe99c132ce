"""From the wire model to the domain's `Snapshot`: the parts of a workflow the bot reports on."""

from __future__ import annotations

from datetime import datetime

from bot.cce.models import WorkflowTask, format_api_time
from bot.domain.snapshot import GraphLine, Snapshot, TaskLine

__all__ = ["snapshot"]


def _time(value: datetime | str | None) -> str | None:
    return None if value is None else format_api_time(value)


def snapshot(workflow: WorkflowTask) -> Snapshot:
    """The workflow as the domain sees it (a task without a status has not started)."""
    status = workflow.status
    tasks = tuple(
        TaskLine(
            task_type=p.task_type or "?",
            status=p.status,
            start=_time(p.start_time_stamp),
            end=_time(p.end_time_stamp),
        )
        for p in status.point_statuses
    )
    lines = tuple(
        GraphLine(
            start=line.start_point.task_type if line.start_point else None,
            end=line.end_point.task_type if line.end_point else None,
            critical=line.is_critical,
        )
        for line in status.line_statuses
    )
    return Snapshot(
        phase=status.phase,
        cluster_version=workflow.spec.cluster_version,
        target_version=workflow.spec.target_version,
        tasks=tasks,
        updated=_time(workflow.metadata.update_timestamp),
        lines=lines,
    )
