"""In-memory state of the CCE Autopilot simulator: projects, clusters and upgrade workflows.

Workflows follow a script of timed steps that is played lazily, from an injectable clock, when a
workflow is read, so idle workflows cost nothing. Clusters may sit in several projects. Knows
nothing about HTTP; imports only the simulator's `rules`, `state` and `render`, never
`bot.domain.cancellability` (the simulator checks cancels itself).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.simulator.render import cluster_json, workflow_json
from bot.simulator.rules import TASK_ORDER, Line, Step, cancel_refusal, chain
from bot.simulator.state import (
    BAD_REQUEST_CODE,
    CANCEL_REFUSED_CODE,
    NOT_FOUND_CODE,
    Call,
    ClusterState,
    PointState,
    WorkflowState,
    WorldError,
    derive_cluster_phase,
    derive_phase,
    running_script,
)

__all__ = [
    "BAD_REQUEST_CODE",
    "CANCEL_REFUSED_CODE",
    "NOT_FOUND_CODE",
    "Call",
    "Line",
    "Step",
    "World",
    "WorldError",
    "cancel_refusal",
    "chain",
]


class World:
    """Clusters and workflows of the simulated API, plus hooks for tests and benchmarks.

    `clock` (monotonic seconds) drives the scripts; `wall_clock` anchors the timestamps shown.
    `rollback_after_cancel` is simulated behaviour: after a cancel a Rollback task runs for one
    step and succeeds after another, while the phase stays Cancel.
    """

    def __init__(
        self,
        project_id: str,
        *,
        step_seconds: float = 5.0,
        rollback_after_cancel: bool = True,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.project_id = project_id
        self.step_seconds = step_seconds
        self.rollback_after_cancel = rollback_after_cancel
        # Whether the cancel's own answer already shows the Rollback running (as a fast
        # service's would), rather than listing it not started.
        self.rollback_at_once = False
        # Whether the live service fills every list item is unverified (reference §2.1): these
        # workflows are left out of list answers, or listed without their status.
        self.list_hides: set[str] = set()
        self.list_without_status: set[str] = set()
        self.calls: list[Call] = []
        self._clock = clock
        self._mono_base = clock()
        self._wall_base = wall_clock()
        self._clusters: dict[str, ClusterState] = {}
        self._workflows: dict[str, WorkflowState] = {}

    # -- building -------------------------------------------------------------------------

    def _wall(self, mono: float | None = None) -> datetime:
        at = self._clock() if mono is None else mono
        return self._wall_base + timedelta(seconds=at - self._mono_base)

    def add_cluster(
        self,
        cluster_id: str,
        *,
        name: str = "",
        version: str = "v1.28",
        project_id: str = "",
        phase: str | None = None,
    ) -> str:
        """Add a cluster (to the default project unless `project_id` is given).

        Its phase is `Upgrading` while a workflow of it runs, else `Available`, unless `phase`
        forces one.
        """
        project = project_id or self.project_id
        created = self._wall() - timedelta(days=90)
        self._clusters[cluster_id] = ClusterState(
            cluster_id, project, name, version, created, phase
        )
        return cluster_id

    def add_workflow(
        self,
        cluster_id: str,
        *,
        workflow_id: str | None = None,
        target_version: str = "v1.29",
        cluster_version: str | None = None,
        points: Sequence[tuple[str, str | None]] | None = None,
        lines: Sequence[Line] | None = None,
        phase: str | None = None,
        script: Sequence[Step] = (),
        age_seconds: float = 0.0,
    ) -> str:
        """Add a workflow in the given state; `script` then plays one step per `step_seconds`.

        Started points get a taskID and plausible past timestamps; `phase` defaults to the one
        derived from the points. `age_seconds` backdates the creation time.
        """
        cluster = self._cluster(cluster_id)
        created = self._wall() - timedelta(seconds=age_seconds)
        wf = WorkflowState(
            workflow_id=workflow_id or str(uuid.uuid4()),
            cluster_id=cluster_id,
            cluster_version=cluster_version or cluster.version,
            target_version=target_version,
            created=created,
            updated=created,
            points=[PointState(t) for t, _ in points or [(t, None) for t in TASK_ORDER]],
            lines=list(chain() if lines is None else lines),
            script=list(script),
            script_start=self._clock(),
        )
        started = [(t, s) for t, s in points or () if s]
        slot = age_seconds / (len(started) + 1)
        for index, (task, status) in enumerate(started):
            at = created + timedelta(seconds=slot * (index + 0.5))
            wf.set_task(task, "Running", at)
            wf.set_task(task, status, at + timedelta(seconds=slot * 0.8))
        if started:
            wf.updated = self._wall()
        wf.phase = phase or derive_phase(wf)
        self._workflows[wf.workflow_id] = wf
        cluster.workflow_ids.append(wf.workflow_id)
        return wf.workflow_id

    def add_running_workflows(self, cluster_id: str, n: int) -> list[str]:
        """Add `n` workflows with PreCheck Running that play the rest of the upgrade to Success."""
        return [
            self.add_workflow(
                cluster_id,
                points=[("PreCheck", "Running"), *[(t, None) for t in TASK_ORDER[1:]]],
                script=running_script(1),
            )
            for _ in range(n)
        ]

    # -- hooks for tests --------------------------------------------------------------------

    def set_phase(self, workflow_id: str, phase: str) -> None:
        """Force the phase (a later scripted step derives it again)."""
        self._workflow(workflow_id).phase = phase

    def set_task_status(self, workflow_id: str, task_type: str, status: str | None) -> None:
        """Force one task's status (adding the point if needed); the phase is left alone."""
        wf = self._workflow(workflow_id)
        wf.set_task(task_type, status, self._wall())

    def set_cluster_phase(self, cluster_id: str, phase: str | None) -> None:
        """Force the cluster's phase (None: derive it from its workflows again)."""
        self._cluster(cluster_id).phase = phase

    def delete_workflow(self, workflow_id: str) -> None:
        wf = self._workflows.pop(workflow_id)
        self._clusters[wf.cluster_id].workflow_ids.remove(workflow_id)

    def advance(self, workflow_id: str, steps: int = 1) -> None:
        """Play the next `steps` scripted steps now, ahead of their time."""
        wf = self._workflow(workflow_id)
        for _ in range(min(steps, len(wf.script) - wf.applied)):
            self._apply_next(wf, self._clock())

    def workflow(self, workflow_id: str) -> dict[str, Any]:
        """The workflow as the API would show it, looked up by id alone."""
        wf = self._workflow(workflow_id)
        self._catch_up(wf)
        return self._to_json(wf)

    def phase(self, workflow_id: str) -> str:
        return str(self.workflow(workflow_id)["status"]["phase"])

    def clusters(self) -> list[tuple[str, str, str, str]]:
        """(project_id, cluster_id, name, version) of every cluster, in insertion order."""
        return [(c.project_id, c.cluster_id, c.name, c.version) for c in self._clusters.values()]

    def workflow_ids(self, cluster_id: str) -> list[str]:
        return list(self._cluster(cluster_id).workflow_ids)

    def project_ids(self) -> list[str]:
        """Every project that holds a cluster, the default one first."""
        found = [self.project_id, *(c.project_id for c in self._clusters.values())]
        return list(dict.fromkeys(found))

    # -- the API operations -----------------------------------------------------------------

    def list_clusters(self, project_id: str) -> dict[str, Any]:
        """ListAutopilotClusters: the project's clusters, in insertion order."""
        self._check_project(project_id)
        items = [
            self._cluster_json(c) for c in self._clusters.values() if c.project_id == project_id
        ]
        return {"kind": "Cluster", "apiVersion": "v3", "items": items}

    def show_cluster(self, project_id: str, cluster_id: str) -> dict[str, Any]:
        return self._cluster_json(self._locate_cluster(project_id, cluster_id))

    def show_workflow(self, project_id: str, cluster_id: str, workflow_id: str) -> dict[str, Any]:
        return self._to_json(self._locate(project_id, cluster_id, workflow_id))

    def list_workflows(self, project_id: str, cluster_id: str) -> dict[str, Any]:
        cluster = self._locate_cluster(project_id, cluster_id)
        items = []
        for workflow_id in reversed(cluster.workflow_ids):
            if workflow_id in self.list_hides:
                continue
            wf = self._workflows[workflow_id]
            self._catch_up(wf)
            item = self._to_json(wf)
            if workflow_id in self.list_without_status:
                del item["status"]
            items.append(item)
        return {"kind": "List", "apiVersion": "v3", "items": items}

    def create_workflow(
        self, project_id: str, cluster_id: str, cluster_version: str | None, target_version: str
    ) -> dict[str, Any]:
        self._locate_cluster(project_id, cluster_id)
        workflow_id = self.add_workflow(
            cluster_id, target_version=target_version, cluster_version=cluster_version
        )
        return self._to_json(self._workflows[workflow_id])

    def cancel_workflow(self, project_id: str, cluster_id: str, workflow_id: str) -> dict[str, Any]:
        wf = self._locate(project_id, cluster_id, workflow_id)
        reason = cancel_refusal(wf.phase, [(p.task_type, p.status) for p in wf.points], wf.lines)
        if reason is not None:
            raise WorldError(
                400, CANCEL_REFUSED_CODE, f"Upgrade workflow cannot be cancelled: {reason}"
            )
        now = self._clock()
        wf.cancelled, wf.phase, wf.updated = True, "Cancel", self._wall(now)
        wf.script, wf.script_start, wf.applied = [], now, 0
        if self.rollback_after_cancel and self.rollback_at_once:
            wf.points.append(PointState("Rollback"))
            wf.set_task("Rollback", "Running", self._wall(now))
            wf.script = [Step("Rollback", "Success")]
        elif self.rollback_after_cancel:
            wf.points.append(PointState("Rollback"))
            wf.script = [Step("Rollback", "Running"), Step("Rollback", "Success")]
        return self._to_json(wf)

    # -- internals --------------------------------------------------------------------------

    def _cluster(self, cluster_id: str) -> ClusterState:
        try:
            return self._clusters[cluster_id]
        except KeyError:
            raise WorldError(404, NOT_FOUND_CODE, f"cluster {cluster_id} not found") from None

    def _workflow(self, workflow_id: str) -> WorkflowState:
        try:
            return self._workflows[workflow_id]
        except KeyError:
            msg = f"upgrade workflow {workflow_id} not found"
            raise WorldError(404, NOT_FOUND_CODE, msg) from None

    def _check_project(self, project_id: str) -> None:
        if project_id not in self.project_ids():
            raise WorldError(404, NOT_FOUND_CODE, f"project {project_id} not found")

    def _locate_cluster(self, project_id: str, cluster_id: str) -> ClusterState:
        self._check_project(project_id)
        cluster = self._clusters.get(cluster_id)
        if cluster is None or cluster.project_id != project_id:
            msg = f"cluster {cluster_id} not found in project {project_id}"
            raise WorldError(404, NOT_FOUND_CODE, msg)
        return cluster

    def _locate(self, project_id: str, cluster_id: str, workflow_id: str) -> WorkflowState:
        cluster = self._locate_cluster(project_id, cluster_id)
        wf = self._workflows.get(workflow_id)
        if wf is None or wf.cluster_id != cluster.cluster_id:
            msg = f"upgrade workflow {workflow_id} not found in cluster {cluster_id}"
            raise WorldError(404, NOT_FOUND_CODE, msg)
        self._catch_up(wf)
        return wf

    def _catch_up(self, wf: WorkflowState) -> None:
        now = self._clock()
        while wf.applied < len(wf.script):
            due = wf.script_start + (wf.applied + 1) * self.step_seconds
            if due > now:
                return
            self._apply_next(wf, due)

    def _apply_next(self, wf: WorkflowState, mono: float) -> None:
        step = wf.script[wf.applied]
        wf.applied += 1
        wf.set_task(step.task_type, step.status, self._wall(mono))
        wf.updated = self._wall(mono)
        wf.phase = derive_phase(wf)

    def _to_json(self, wf: WorkflowState) -> dict[str, Any]:
        return workflow_json(wf)

    def _cluster_json(self, cluster: ClusterState) -> dict[str, Any]:
        phases = [self.workflow(w)["status"]["phase"] for w in cluster.workflow_ids]
        return cluster_json(cluster, derive_cluster_phase(cluster, phases))
