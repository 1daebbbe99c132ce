"""The simulator's records: a workflow's tasks and lines, a cluster, the phases they derive, the
requests received, and the API's error codes.

Plain mutable dataclasses that `world` changes and `render` turns into JSON. Imports only
`rules`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from bot.simulator.rules import ACTIVE_STATUSES, TASK_ORDER, Line, Step

__all__ = [
    "BAD_REQUEST_CODE",
    "CANCEL_REFUSED_CODE",
    "NOT_FOUND_CODE",
    "Call",
    "ClusterState",
    "PointState",
    "WorkflowState",
    "WorldError",
    "derive_cluster_phase",
    "derive_phase",
    "running_script",
]


NOT_FOUND_CODE = "CCE.01404001"
BAD_REQUEST_CODE = "CCE.01400001"
# Simulated: the code the real API uses for a refused cancel is unverified (reference §2.1).
CANCEL_REFUSED_CODE = "CCE.01400013"


class WorldError(Exception):
    """A request the API would answer with an error: HTTP status, `error_code`, `error_msg`."""

    def __init__(self, status: int, error_code: str, error_msg: str) -> None:
        super().__init__(error_msg)
        self.status = status
        self.error_code = error_code
        self.error_msg = error_msg


class Call(NamedTuple):
    """One request as the server received it (path includes the query).

    `peer` is the client's address and port: one value per connection, so tests can count
    connections (and TLS handshakes); `at` is when it arrived (`time.monotonic()`).
    """

    method: str
    path: str
    headers: Mapping[str, str]  # case-insensitive, as HTTP headers are
    body: bytes
    peer: str = ""
    at: float = 0.0


def running_script(start: int = 0) -> list[Step]:
    """Every task of the upgrade running then succeeding, from step `start` on."""
    steps = [Step(t, s) for t in TASK_ORDER for s in ("Running", "Success")]
    return steps[start:]


@dataclass
class PointState:
    task_type: str
    status: str | None = None
    task_id: str | None = None
    start: datetime | None = None
    end: datetime | None = None


@dataclass
class WorkflowState:
    workflow_id: str
    cluster_id: str
    cluster_version: str
    target_version: str
    created: datetime
    updated: datetime
    points: list[PointState]
    lines: list[Line]
    phase: str = "Init"
    cancelled: bool = False
    script: list[Step] = field(default_factory=list)
    script_start: float = 0.0
    applied: int = 0

    def point(self, task_type: str) -> PointState | None:
        wanted = task_type.lower()
        return next((p for p in self.points if p.task_type.lower() == wanted), None)

    def set_task(self, task_type: str, status: str | None, at: datetime) -> None:
        """Set one task's status at `at` (adding the point if needed; None clears it)."""
        point = self.point(task_type)
        if point is None:
            point = PointState(task_type)
            self.points.append(point)
        point.status = status
        if status is None:
            point.task_id = point.start = point.end = None
            return
        point.task_id = point.task_id or str(uuid.uuid4())
        point.start = point.start or at
        if status.lower() in {"success", "failed"}:
            point.end = at


@dataclass
class ClusterState:
    cluster_id: str
    project_id: str
    name: str
    version: str
    created: datetime
    phase: str | None = None  # forced by a scenario or a test; otherwise derived
    workflow_ids: list[str] = field(default_factory=list)


def derive_phase(wf: WorkflowState) -> str:
    """The workflow phase its tasks imply (Cancel once cancelled)."""
    if wf.cancelled:
        return "Cancel"
    statuses = [(p.status or "").lower() for p in wf.points if p.task_type != "Rollback"]
    if any(s in ACTIVE_STATUSES for s in statuses):
        return "Running"
    if "failed" in statuses:
        return "Pending"
    if statuses and all(s == "success" for s in statuses):
        return "Success"
    if not any(statuses):
        return "Init"
    return "Running" if wf.applied < len(wf.script) else "Pending"


def derive_cluster_phase(cluster: ClusterState, workflow_phases: list[str]) -> str:
    """`Upgrading` while one of its workflows runs, else `Available` (unless forced)."""
    if cluster.phase:
        return cluster.phase
    return "Upgrading" if "Running" in workflow_phases else "Available"
