"""The simulator's records as the API shows them: WorkFlowTask and AutopilotCluster JSON.

Imports only the simulator's `state` and the wire time format from `bot.cce.models`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.cce.models import format_api_time
from bot.simulator.state import ClusterState, WorkflowState

__all__ = ["cluster_json", "workflow_json"]

_EXPIRE_AFTER = timedelta(hours=1)


def workflow_json(wf: WorkflowState) -> dict[str, Any]:
    """A WorkFlowTask: tasks without a status carry only their `taskType`."""
    points: list[dict[str, Any]] = []
    for p in wf.points:
        item: dict[str, Any] = {"taskType": p.task_type}
        if p.task_id is not None:
            item["taskID"] = p.task_id
        if p.status is not None:
            item["status"] = p.status
        if p.start is not None:
            item["startTimeStamp"] = format_api_time(p.start)
        if p.end is not None:
            item["endTimeStamp"] = format_api_time(p.end)
            if p.task_type == "PreCheck":
                item["expireTimeStamp"] = format_api_time(p.end + _EXPIRE_AFTER)
        points.append(item)
    lines: list[dict[str, Any]] = []
    for line in wf.lines:
        entry: dict[str, Any] = {
            "startPoint": {"taskType": line.start},
            "endPoint": {"taskType": line.end},
        }
        if line.critical is not None:
            entry["critical"] = line.critical
        lines.append(entry)
    return {
        "kind": "WorkFlowTask",
        "apiVersion": "v3",
        "metadata": {
            "uid": wf.workflow_id,
            "creationTimestamp": format_api_time(wf.created),
            "updateTimestamp": format_api_time(wf.updated),
        },
        "spec": {
            "clusterID": wf.cluster_id,
            "clusterVersion": wf.cluster_version,
            "targetVersion": wf.target_version,
        },
        "status": {"phase": wf.phase, "pointStatuses": points, "lineStatuses": lines},
    }


def cluster_json(cluster: ClusterState, phase: str) -> dict[str, Any]:
    """An AutopilotCluster with the fields the bot reads (and a few it does not)."""
    created = format_api_time(cluster.created)
    return {
        "kind": "Cluster",
        "apiVersion": "v3",
        "metadata": {
            "name": cluster.name,
            "uid": cluster.cluster_id,
            "alias": cluster.name,
            "creationTimestamp": created,
            "updateTimestamp": created,
        },
        "spec": {
            "category": "Turbo",
            "type": "VirtualMachine",
            "flavor": "cce.autopilot.cluster",
            "version": cluster.version,
            "platformVersion": "cce.10.0",
            "description": "",
        },
        "status": {"phase": phase, "message": ""},
    }
