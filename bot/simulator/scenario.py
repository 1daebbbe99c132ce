"""Scenarios for the simulator: the default seeded world, a JSON loader, and a printable summary.

A scenario file is JSON (the shipped `default_scenario.json` is an example)::

    {"project_id": "<32 hex>",
     "clusters": [{"id": "<uuid>", "name": "prod-eu", "version": "v1.28",
                   "project_id": "<32 hex>",          # optional: another project than the top's
                   "phase": "Available",              # optional: forced, else derived
                   "workflows": [{"id": "<uuid>", "target_version": "v1.29",
                                  "cluster_version": "v1.28",        # optional, cluster's version
                                  "phase": "Pending",                # optional, derived from points
                                  "age_minutes": 90,                 # optional, backdates
                                  "points": [{"task": "PreCheck", "status": "Success"},
                                             {"task": "PostCheck"}], # no status: not started
                                  "lines": [{"from": "Snapshot", "to": "Cluster",
                                             "critical": true}],     # optional, default a chain
                                  "script": [{"task": "Cluster", "status": "Running"}]}]}]}

`script` lists future steps, one played every `step_seconds`. Imports only `bot.domain.ids` and
the world.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.domain.ids import validate_cluster_id, validate_project_id, validate_workflow_id
from bot.simulator.world import Line, Step, World, cancel_refusal

__all__ = [
    "Scenario",
    "build_world",
    "default_scenario",
    "default_world",
    "describe_world",
    "load_scenario",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class PointSpec(_Strict):
    task: str
    status: str | None = None


class LineSpec(_Strict):
    start: str = Field(alias="from")
    end: str = Field(alias="to")
    critical: bool | None = None


class WorkflowSpec(_Strict):
    id: str
    target_version: str
    cluster_version: str | None = None
    phase: str | None = None
    age_minutes: float = 0.0
    points: list[PointSpec] = Field(default_factory=list)
    lines: list[LineSpec] | None = None
    script: list[PointSpec] = Field(default_factory=list)

    _check_id = field_validator("id")(validate_workflow_id)


class ClusterSpec(_Strict):
    id: str
    name: str = ""
    version: str = "v1.28"
    project_id: str | None = None
    phase: str | None = None
    workflows: list[WorkflowSpec] = Field(default_factory=list)

    _check_id = field_validator("id")(validate_cluster_id)

    @field_validator("project_id")
    @classmethod
    def _check_project(cls, value: str | None) -> str | None:
        return None if value is None else validate_project_id(value)


class Scenario(_Strict):
    """Clusters and workflows, in `project_id` unless a cluster names its own project."""

    project_id: str
    clusters: list[ClusterSpec]

    _check_id = field_validator("project_id")(validate_project_id)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file (pydantic's ValidationError names any bad field)."""
    return Scenario.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))


def default_scenario() -> Scenario:
    """The shipped scenario: a failed (cancellable), a running, a finished and a blocked one."""
    text = resources.files("bot.simulator").joinpath("default_scenario.json").read_text("utf-8")
    return Scenario.model_validate(json.loads(text))


def build_world(
    scenario: Scenario,
    *,
    step_seconds: float = 5.0,
    rollback_after_cancel: bool = True,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> World:
    """A fresh world holding the scenario's clusters and workflows."""
    world = World(
        scenario.project_id,
        step_seconds=step_seconds,
        rollback_after_cancel=rollback_after_cancel,
        clock=clock,
        wall_clock=wall_clock,
    )
    for cluster in scenario.clusters:
        world.add_cluster(
            cluster.id,
            name=cluster.name,
            version=cluster.version,
            project_id=cluster.project_id or "",
            phase=cluster.phase,
        )
        for wf in cluster.workflows:
            lines = (
                None if wf.lines is None else [Line(x.start, x.end, x.critical) for x in wf.lines]
            )
            world.add_workflow(
                cluster.id,
                workflow_id=wf.id,
                target_version=wf.target_version,
                cluster_version=wf.cluster_version,
                points=[(p.task, p.status) for p in wf.points] or None,
                lines=lines,
                phase=wf.phase,
                script=[Step(s.task, s.status) for s in wf.script],
                age_seconds=wf.age_minutes * 60,
            )
    return world


def default_world(
    *,
    step_seconds: float = 5.0,
    rollback_after_cancel: bool = True,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> World:
    """`build_world(default_scenario(), ...)`, for tests and the demo."""
    return build_world(
        default_scenario(),
        step_seconds=step_seconds,
        rollback_after_cancel=rollback_after_cancel,
        clock=clock,
        wall_clock=wall_clock,
    )


def describe_world(world: World, url: str) -> str:
    """What the world holds (ids and states), ready to paste, plus example curl lines."""
    out = [f"project {world.project_id}"]
    first: tuple[str, str, str] | None = None
    for project_id, cluster_id, name, version in world.clusters():
        out.append(f"cluster {cluster_id}  {name or '-'}  {version}  (project {project_id})")
        for workflow_id in world.workflow_ids(cluster_id):
            status = world.workflow(workflow_id)["status"]
            points = [(p["taskType"], p.get("status")) for p in status["pointStatuses"]]
            lines = [
                Line(x["startPoint"]["taskType"], x["endPoint"]["taskType"], x.get("critical"))
                for x in status["lineStatuses"]
            ]
            refusal = cancel_refusal(status["phase"], points, lines)
            tasks = " ".join(f"{t}={s or '-'}" for t, s in points)
            verdict = "cancellable" if refusal is None else f"not cancellable: {refusal}"
            out.append(f"  workflow {workflow_id}  {status['phase']}  {tasks}  ({verdict})")
            if first is None and refusal is None:
                first = (project_id, cluster_id, workflow_id)
    out += ["", "List the clusters (names, ids, versions, phases):"]
    out += [f"  curl -s {url}/autopilot/v3/projects/{p}/clusters" for p in world.project_ids()]
    if first is not None:
        path = (
            f"{url}/autopilot/v3/projects/{first[0]}/clusters/{first[1]}"
            f"/operation/upgradeworkflows/{first[2]}"
        )
        out += [
            "",
            "Show, then cancel, the cancellable workflow:",
            f"  curl -s {path}",
            f"  curl -s -X PATCH -H 'Content-Type: application/json' "
            f"""-d '{{"status":{{"phase":"Cancel"}}}}' {path}""",
        ]
    return "\n".join(out)
