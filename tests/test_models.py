"""The wire models parse what the API sends, keep what they do not know, and round-trip."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from bot.cce.models import ErrorBody, WorkflowTask, WorkflowUpdate, parse_api_time

DATA = Path(__file__).parent / "data"


def seed() -> dict[str, object]:
    return json.loads((DATA / "seed_cancel_response.json").read_text())


def test_seed_example_parses_exactly() -> None:
    """The seed page's example response parses into every field it carries."""
    wf = WorkflowTask.model_validate(seed())
    assert wf.kind == "WorkFlowTask"
    assert wf.metadata.uid == "c271e39e-1a6e-4d3d-8fa8-2a36329c68d1"
    assert wf.spec.cluster_id == "b4b9e60f-8aa2-11ee-af09-0255ac10004f"
    assert wf.spec.target_version == "v1.19.16-r80"
    assert wf.status.phase == "Cancel"
    types = [p.task_type for p in wf.status.point_statuses]
    assert types == ["PreCheck", "Snapshot", "Cluster", "PostCheck"]
    snapshot = wf.status.point_statuses[1]
    assert snapshot.status is None and snapshot.task_id is None
    cluster = wf.task("cluster")
    assert cluster is not None and cluster.status == "Failed"
    assert cluster.start_time_stamp == datetime(2023, 11, 25, 7, 49, 30, 283459, tzinfo=UTC)
    assert wf.status.line_statuses[0].end_point is not None
    assert wf.status.line_statuses[0].end_point.task_type == "Cluster"


def test_seed_example_round_trips() -> None:
    """Dumping the parsed seed gives back the same JSON document."""
    original = seed()
    wf = WorkflowTask.model_validate(original)
    assert original == wf.model_dump(mode="json", exclude_unset=True)


def test_unknown_values_and_fields_survive() -> None:
    """A phase the docs do not list, and fields we do not model, are kept as sent."""
    data = seed()
    data["status"]["phase"] = "Failed"  # type: ignore[index]
    data["status"]["pointStatuses"][2]["status"] = "Paused"  # type: ignore[index]
    data["status"]["futureField"] = {"x": 1}  # type: ignore[index]
    data["novel"] = True
    wf = WorkflowTask.model_validate(data)
    assert wf.status.phase == "Failed"
    assert wf.status.point_statuses[2].status == "Paused"
    dumped = wf.model_dump(mode="json", exclude_unset=True)
    assert dumped["novel"] is True
    assert dumped["status"]["futureField"] == {"x": 1}


def test_timestamp_in_another_format_is_kept_as_text() -> None:
    """An ISO timestamp is not the API's format: kept as text, the response still parses."""
    data = seed()
    data["metadata"]["updateTimestamp"] = "2023-11-25T07:49:30Z"  # type: ignore[index]
    wf = WorkflowTask.model_validate(data)
    assert wf.metadata.update_timestamp == "2023-11-25T07:49:30Z"
    assert isinstance(wf.metadata.creation_timestamp, datetime)


def test_api_time_with_offset_and_no_fraction() -> None:
    """Offsets and whole seconds parse to aware datetimes."""
    parsed = parse_api_time("2024-01-02 03:04:05 +0800 CST")
    assert isinstance(parsed, datetime)
    assert parsed.astimezone(UTC) == datetime(2024, 1, 1, 19, 4, 5, tzinfo=UTC)


def test_minimal_task_and_empty_status() -> None:
    """A workflow with almost nothing in it still parses."""
    wf = WorkflowTask.model_validate({"status": {"pointStatuses": [{"taskType": "Cluster"}]}})
    assert wf.status.phase is None
    assert wf.status.point_statuses[0].task_type == "Cluster"


def test_cancel_body_matches_the_seed_request() -> None:
    """The update body is exactly the seed's example request."""
    expected = json.loads((DATA / "seed_cancel_request.json").read_text())
    assert expected == json.loads(WorkflowUpdate.cancel().model_dump_json(by_alias=True))


def test_error_body_fallbacks() -> None:
    """errorCode/errorMessage are read when the snake-case keys are absent; message appended."""
    body = ErrorBody.from_json({"errorCode": "X.1", "errorMessage": "no", "message": "detail"})
    assert (body.error_code, body.error_msg) == ("X.1", "no, detail")
    assert ErrorBody.from_json("not a dict").error_code is None


def test_cluster_list_parses_names_versions_and_phases_and_keeps_the_rest() -> None:
    """An AutopilotCluster list: what the bot reads parses; fields it does not model are kept."""
    from bot.cce.models import ClusterList, ClusterPhase

    data = json.loads((DATA / "autopilot_cluster_list.json").read_text())
    listed = ClusterList.model_validate(data)
    prod, bare = listed.items
    assert (prod.name, prod.cluster_id, prod.metadata.alias) == (
        "prod-eu",
        "f9960c6b-8e60-11ee-9754-0255ac100b05",
        "Production EU",
    )
    assert (prod.spec.version, prod.spec.platform_version) == ("v1.28", "cce.10.0")
    assert (prod.spec.category, prod.spec.type) == ("Turbo", "VirtualMachine")
    assert prod.status.phase == ClusterPhase.UPGRADING
    assert prod.status.job_id == "5e0b6c0a-0000-4000-8000-000000000002"
    assert prod.status.message == "upgrading to v1.29"
    assert prod.metadata.creation_timestamp == datetime(2023, 11, 25, 7, 20, 4, 592972, tzinfo=UTC)
    assert (bare.name, bare.spec.version, bare.status.phase) == (None, None, None)
    assert data == listed.model_dump(mode="json", exclude_unset=True)
