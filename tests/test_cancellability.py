"""Cancellability follows every rule of SPEC §4, table-driven."""

from __future__ import annotations

from typing import Any

import pytest

from bot.cce.models import WorkflowTask
from bot.cce.snapshots import snapshot
from bot.domain.cancellability import Rule, cancellability
from bot.domain.snapshot import Snapshot


def wf(phase: str | None, *points: tuple[str, str | None], lines: Any = ()) -> Snapshot:
    """The workflow as the API sends it, seen through the domain's snapshot."""
    status: dict[str, Any] = {
        "pointStatuses": [
            {"taskType": t} if s is None else {"taskType": t, "status": s} for t, s in points
        ],
        "lineStatuses": list(lines),
    }
    if phase is not None:
        status["phase"] = phase
    return snapshot(WorkflowTask.model_validate({"status": status}))


FAILED = (("PreCheck", "Success"), ("Snapshot", None), ("Cluster", "Failed"), ("PostCheck", None))


@pytest.mark.parametrize(
    ("workflow", "expected_rules"),
    [
        (wf("Pending", *FAILED), set()),
        (wf("Init"), set()),
        (wf("pending", *FAILED), set()),
        (wf("INIT", ("PreCheck", "success")), set()),
        (wf("Running", *FAILED), {Rule.PHASE}),
        (wf("Success", *FAILED), {Rule.PHASE}),
        (wf("Cancel", *FAILED), {Rule.PHASE}),
        (wf("cancel"), {Rule.PHASE}),
        (wf("Failed"), {Rule.PHASE}),
        (wf(None), {Rule.PHASE}),
        (wf("Pending", ("Cluster", "Running")), {Rule.TASK_ACTIVE}),
        (wf("Pending", ("Cluster", "RUNNING")), {Rule.TASK_ACTIVE}),
        (wf("Pending", ("PreCheck", "Init")), {Rule.TASK_ACTIVE}),
        (wf("Pending", ("Cluster", "Pause")), {Rule.TASK_ACTIVE}),
        (wf("Pending", ("Cluster", "Queuing")), {Rule.TASK_ACTIVE}),
        (wf("Pending", ("Cluster", "Queue")), {Rule.TASK_ACTIVE}),
        (wf("Pending", ("Cluster", "queue")), {Rule.TASK_ACTIVE}),
        (wf("Running", ("Cluster", "Running")), {Rule.PHASE, Rule.TASK_ACTIVE}),
        (wf("Pending", ("Cluster", "")), set()),
        (wf("Pending", ("Cluster", "Brand-New")), set()),
    ],
)
def test_rules(workflow: Snapshot, expected_rules: set[Rule]) -> None:
    """Each row: which rules block (empty set = cancellable)."""
    verdict = cancellability(workflow)
    assert expected_rules == {b.rule for b in verdict.blockers}
    assert verdict.cancellable is (not expected_rules)


def critical(start: str, end: str, value: object = True) -> dict[str, Any]:
    return {"startPoint": {"taskType": start}, "endPoint": {"taskType": end}, "critical": value}


@pytest.mark.parametrize(
    ("lines", "blocked"),
    [
        ([critical("PreCheck", "Cluster")], False),  # Cluster has run (Failed)
        ([critical("Cluster", "PostCheck")], True),  # PostCheck not started
        ([critical("Cluster", "PostCheck", "true")], True),
        ([critical("Cluster", "PostCheck", "True")], True),
        ([critical("Cluster", "PostCheck", "false")], False),
        ([critical("Cluster", "PostCheck", False)], False),
        ([critical("Cluster", "Rollback")], True),  # no such point: has not started
        ([{"startPoint": {"taskType": "Cluster"}, "endPoint": {"taskType": "PostCheck"}}], False),
    ],
)
def test_critical_path(lines: list[dict[str, Any]], blocked: bool) -> None:
    """A critical line whose end task has not started blocks the cancel."""
    verdict = cancellability(wf("Pending", *FAILED, lines=lines))
    assert blocked == (Rule.CRITICAL_PATH in {b.rule for b in verdict.blockers})


def test_unknown_task_status_is_shown_as_is() -> None:
    """A status the docs do not list is named, unchanged, in a note."""
    verdict = cancellability(wf("Pending", ("Cluster", "Brand-New")))
    assert verdict.cancellable
    assert any("'Brand-New'" in note and "unknown" in note for note in verdict.notes)


def test_explanation_names_the_blocking_rule() -> None:
    """The explanation says which phase blocks and which phases would be accepted."""
    text = cancellability(wf("Running", ("Cluster", "Running"))).explain()
    assert "phase Running" in text and "Init or Pending" in text and "Cluster is Running" in text
