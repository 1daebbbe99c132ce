"""The CCE Autopilot simulator over real loopback HTTP: state, rules, auth and faults."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from bot.cce.models import WorkflowTask
from bot.cce.signing import AKSKAuth, Credentials
from bot.simulator import (
    CANCEL_REFUSED_CODE,
    Faults,
    RunningSimulator,
    World,
    default_world,
    describe_world,
    load_scenario,
    running_simulator,
)
from tests.e2e import DEV as DONE_CLUSTER
from tests.e2e import PROD as FAILED_CLUSTER
from tests.e2e import PROJECT
from tests.e2e import QA as BLOCKED_CLUSTER
from tests.e2e import STAGING as RUNNING_CLUSTER
from tests.e2e import WF_CRITICAL as BLOCKED_WF
from tests.e2e import WF_DONE as DONE_WF
from tests.e2e import WF_FAILED as FAILED_WF
from tests.e2e import WF_RUNNING as RUNNING_WF

CANCEL = {"status": {"phase": "Cancel"}}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def wf_path(cluster_id: str, workflow_id: str | None = None) -> str:
    path = f"/autopilot/v3/projects/{PROJECT}/clusters/{cluster_id}/operation/upgradeworkflows"
    return path if workflow_id is None else f"{path}/{workflow_id}"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def world(clock: FakeClock) -> World:
    return default_world(step_seconds=1.0, clock=clock)


@pytest.fixture
async def sim(world: World) -> AsyncIterator[RunningSimulator]:
    async with running_simulator(world) as running:
        yield running


@pytest.fixture
async def client(sim: RunningSimulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.url, timeout=2.0) as http:
        yield http


async def test_list_shows_the_seeded_workflow(client: httpx.AsyncClient) -> None:
    response = await client.get(wf_path(FAILED_CLUSTER))
    assert response.status_code == 200
    body = response.json()
    assert (body["kind"], body["apiVersion"]) == ("List", "v3")
    assert [item["metadata"]["uid"] for item in body["items"]] == [FAILED_WF]


async def test_show_returns_the_failed_workflow_as_a_workflow_task(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(wf_path(FAILED_CLUSTER, FAILED_WF))
    assert response.status_code == 200
    task = WorkflowTask.model_validate(response.json())
    assert task.status.phase == "Pending"
    assert [(p.task_type, p.status) for p in task.status.point_statuses] == [
        ("PreCheck", "Success"),
        ("Snapshot", "Success"),
        ("Cluster", "Failed"),
        ("PostCheck", None),
    ]
    precheck = task.task("PreCheck")
    assert precheck is not None and precheck.task_id and precheck.expire_time_stamp
    assert isinstance(precheck.end_time_stamp, datetime)
    assert task.spec.cluster_id == FAILED_CLUSTER
    assert len(response.headers["X-Request-Id"]) == 32


async def test_create_answers_an_init_workflow_listed_first(client: httpx.AsyncClient) -> None:
    body = {
        "kind": "WorkFlowTask",
        "apiVersion": "v3",
        "spec": {"clusterID": DONE_CLUSTER, "clusterVersion": "v1.29", "targetVersion": "v1.30"},
    }
    response = await client.post(wf_path(DONE_CLUSTER), json=body)
    assert response.status_code == 200
    task = WorkflowTask.model_validate(response.json())
    assert task.status.phase == "Init"
    assert response.json()["status"]["pointStatuses"] == [
        {"taskType": t} for t in ("PreCheck", "Snapshot", "Cluster", "PostCheck")
    ]
    assert task.spec.target_version == "v1.30"
    listed = (await client.get(wf_path(DONE_CLUSTER))).json()["items"]
    assert [item["metadata"]["uid"] for item in listed] == [task.workflow_id, DONE_WF]


async def test_cancel_of_the_failed_workflow_answers_phase_cancel(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await client.patch(wf_path(FAILED_CLUSTER, FAILED_WF), json=CANCEL)
    assert response.status_code == 200
    assert WorkflowTask.model_validate(response.json()).status.phase == "Cancel"
    assert world.phase(FAILED_WF) == "Cancel"
    assert [c.method for c in world.calls] == ["PATCH"]
    assert json.loads(world.calls[0].body) == CANCEL


@pytest.mark.parametrize(
    ("cluster_id", "workflow_id", "reason"),
    [
        (RUNNING_CLUSTER, RUNNING_WF, "phase is Running"),
        (DONE_CLUSTER, DONE_WF, "phase is Success"),
        (BLOCKED_CLUSTER, BLOCKED_WF, "critical line Snapshot -> Cluster"),
    ],
)
async def test_cancel_is_refused_with_the_error_body(
    client: httpx.AsyncClient, cluster_id: str, workflow_id: str, reason: str
) -> None:
    response = await client.patch(wf_path(cluster_id, workflow_id), json=CANCEL)
    assert response.status_code == 400
    body = response.json()
    assert body["error_code"] == CANCEL_REFUSED_CODE
    assert body["error_msg"].startswith("Upgrade workflow cannot be cancelled: ")
    assert reason in body["error_msg"]
    assert response.headers["X-Request-Id"]


async def test_a_running_task_blocks_the_cancel_even_in_phase_pending(
    client: httpx.AsyncClient, world: World
) -> None:
    world.set_task_status(FAILED_WF, "Cluster", "Running")
    response = await client.patch(wf_path(FAILED_CLUSTER, FAILED_WF), json=CANCEL)
    assert response.status_code == 400
    assert "task cluster is Running" in response.json()["error_msg"]


async def test_second_cancel_is_refused(client: httpx.AsyncClient) -> None:
    await client.patch(wf_path(FAILED_CLUSTER, FAILED_WF), json=CANCEL)
    response = await client.patch(wf_path(FAILED_CLUSTER, FAILED_WF), json=CANCEL)
    assert response.status_code == 400
    assert "phase is Cancel" in response.json()["error_msg"]


@pytest.mark.parametrize(
    ("path", "status", "needle"),
    [
        (wf_path(FAILED_CLUSTER, "00000000-0000-4000-8000-000000000000"), 404, "workflow"),
        (wf_path(RUNNING_CLUSTER, FAILED_WF), 404, "workflow"),
        (wf_path("00000000-0000-4000-8000-000000000000", FAILED_WF), 404, "cluster"),
        (wf_path(FAILED_CLUSTER).replace(PROJECT, "0" * 32), 404, "project"),
        (wf_path(FAILED_CLUSTER, "not-a-uuid"), 400, "workflow id"),
        ("/autopilot/v3/nothing/here", 404, "Not Found"),
    ],
)
async def test_unknown_things_answer_json_errors_with_a_request_id(
    client: httpx.AsyncClient, path: str, status: int, needle: str
) -> None:
    response = await client.get(path)
    assert response.status_code == status
    body = response.json()
    assert body["error_code"].startswith("CCE.01")
    assert needle in body["error_msg"]
    assert response.headers["X-Request-Id"]


@pytest.mark.parametrize(
    ("content", "needle"),
    [(b"{not json", "Invalid request body"), (b'{"status":{"phase":"Running"}}', "only 'Cancel'")],
)
async def test_bad_update_bodies_are_refused(
    client: httpx.AsyncClient, world: World, content: bytes, needle: str
) -> None:
    response = await client.patch(wf_path(FAILED_CLUSTER, FAILED_WF), content=content)
    assert response.status_code == 400
    assert needle in response.json()["error_msg"]
    assert world.phase(FAILED_WF) == "Pending"


async def test_running_workflow_advances_to_success(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    async def show() -> WorkflowTask:
        response = await client.get(wf_path(RUNNING_CLUSTER, RUNNING_WF))
        return WorkflowTask.model_validate(response.json())

    assert (await show()).status.phase == "Running"
    clock.now += 2.0
    task = await show()
    cluster = task.task("Cluster")
    assert cluster is not None and cluster.status == "Running" and cluster.start_time_stamp
    assert cluster.end_time_stamp is None
    clock.now += 3.0
    task = await show()
    assert task.status.phase == "Success"
    assert all(p.status == "Success" and p.end_time_stamp for p in task.status.point_statuses)


async def test_rollback_plays_after_cancel(
    client: httpx.AsyncClient, world: World, clock: FakeClock
) -> None:
    await client.patch(wf_path(FAILED_CLUSTER, FAILED_WF), json=CANCEL)
    rollback = WorkflowTask.model_validate(world.workflow(FAILED_WF)).task("Rollback")
    assert rollback is not None and rollback.status is None
    statuses = []
    for _ in range(2):
        clock.now += 1.0
        task = WorkflowTask.model_validate(world.workflow(FAILED_WF))
        point = task.task("Rollback")
        statuses.append((task.status.phase, point.status if point else None))
    assert statuses == [("Cancel", "Running"), ("Cancel", "Success")]


async def test_no_rollback_when_switched_off(clock: FakeClock) -> None:
    world = default_world(step_seconds=1.0, clock=clock, rollback_after_cancel=False)
    world.cancel_workflow(PROJECT, FAILED_CLUSTER, FAILED_WF)
    clock.now += 10.0
    task = WorkflowTask.model_validate(world.workflow(FAILED_WF))
    assert task.status.phase == "Cancel"
    assert task.task("Rollback") is None


async def test_hooks_change_what_the_api_answers(world: World, clock: FakeClock) -> None:
    world.set_phase(DONE_WF, "Pending")
    world.cancel_workflow(PROJECT, DONE_CLUSTER, DONE_WF)
    ids = world.add_running_workflows(RUNNING_CLUSTER, 50)
    assert len(world.list_workflows(PROJECT, RUNNING_CLUSTER)["items"]) == 51
    assert {world.phase(i) for i in ids} == {"Running"}
    clock.now += 7.0
    assert {world.phase(i) for i in ids} == {"Success"}
    world.delete_workflow(ids[0])
    assert ids[0] not in world.workflow_ids(RUNNING_CLUSTER)


async def test_aksk_signature_is_checked() -> None:
    creds = {"AKTEST": "SKTEST"}
    async with running_simulator(credentials=creds) as sim:
        good = AKSKAuth(Credentials("AKTEST", "SKTEST"))
        bad = AKSKAuth(Credentials("AKTEST", "WRONG"))
        stale = AKSKAuth(
            Credentials("AKTEST", "SKTEST"), clock=lambda: datetime.now(UTC) - timedelta(hours=1)
        )
        async with httpx.AsyncClient(base_url=sim.url) as http:
            headers = {"Content-Type": "application/json"}
            ok = await http.patch(
                wf_path(FAILED_CLUSTER, FAILED_WF), json=CANCEL, auth=good, headers=headers
            )
            assert ok.status_code == 200
            for auth in (bad, stale, None):
                refused = await http.get(wf_path(FAILED_CLUSTER), auth=auth, headers=headers)
                assert refused.status_code == 401
                assert refused.json()["error_code"] == "APIGW.0301"
                assert refused.headers["X-Request-Id"]


async def test_token_auth_passes_and_fails() -> None:
    async with (
        running_simulator(token="tok-123") as sim,
        httpx.AsyncClient(base_url=sim.url) as http,
    ):
        ok = await http.get(wf_path(FAILED_CLUSTER), headers={"X-Auth-Token": "tok-123"})
        assert ok.status_code == 200
        for headers in ({"X-Auth-Token": "nope"}, {}):
            refused = await http.get(wf_path(FAILED_CLUSTER), headers=headers)
            assert refused.status_code == 401
            assert refused.json()["error_code"] == "APIGW.0307"


async def test_fail_next_answers_503_once_then_succeeds(
    client: httpx.AsyncClient, sim: RunningSimulator
) -> None:
    sim.faults.fail_next(503)
    first = await client.get(wf_path(FAILED_CLUSTER, FAILED_WF))
    assert first.status_code == 503
    assert first.json()["error_code"] and first.headers["X-Request-Id"]
    second = await client.get(wf_path(FAILED_CLUSTER, FAILED_WF))
    assert second.status_code == 200


async def test_rate_limit_carries_retry_after(client: httpx.AsyncClient) -> None:
    knobs = await client.post("/_sim/faults", json={"rate_limit_rate": 1.0, "retry_after": 2})
    assert knobs.status_code == 200 and knobs.json()["rate_limit_rate"] == 1.0
    response = await client.get(wf_path(FAILED_CLUSTER))
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"
    assert response.json()["error_code"] == "APIGW.0308"
    await client.post("/_sim/faults", json={"clear": True})
    assert (await client.get(wf_path(FAILED_CLUSTER))).status_code == 200


async def test_bad_gateway_is_html(client: httpx.AsyncClient, sim: RunningSimulator) -> None:
    sim.faults.bad_gateway_rate = 1.0
    response = await client.get(wf_path(FAILED_CLUSTER))
    assert response.status_code == 502
    assert response.headers["Content-Type"].startswith("text/html")
    with pytest.raises(ValueError):
        response.json()


async def test_hang_delays_the_answer(client: httpx.AsyncClient, sim: RunningSimulator) -> None:
    sim.faults.timeout_rate, sim.faults.hang_seconds = 1.0, 5.0
    with pytest.raises(httpx.ReadTimeout):  # only the read is short: a slow connect isn't it
        await client.get(wf_path(FAILED_CLUSTER), timeout=httpx.Timeout(5.0, read=0.05))


async def test_drop_applies_the_cancel_but_loses_the_answer(
    client: httpx.AsyncClient, sim: RunningSimulator, world: World
) -> None:
    sim.faults.drop_next()
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        await client.patch(wf_path(FAILED_CLUSTER, FAILED_WF), json=CANCEL)
    assert world.phase(FAILED_WF) == "Cancel"
    assert [c.method for c in world.calls] == ["PATCH"]


async def test_drop_before_apply_leaves_the_workflow_alone(
    client: httpx.AsyncClient, sim: RunningSimulator, world: World
) -> None:
    sim.faults.drop_next(after_apply=False)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        await client.patch(wf_path(FAILED_CLUSTER, FAILED_WF), json=CANCEL)
    assert world.phase(FAILED_WF) == "Pending"


async def test_random_faults_are_reproducible() -> None:
    def pattern() -> list[str]:
        faults = Faults(error_rate=0.3, rate_limit_rate=0.2, seed=7)
        return [str(f.status) if f else "-" for f in (faults.take() for _ in range(40))]

    first = pattern()
    assert first == pattern()
    assert {"503", "429", "-"} <= set(first)


def test_scenario_file_loads(tmp_path: Path, clock: FakeClock) -> None:
    from bot.simulator import build_world

    cluster = "11111111-2222-4333-8444-555555555555"
    workflow = "66666666-7777-4888-9999-000000000000"
    data = {
        "project_id": "0123456789abcdef0123456789abcdef",
        "clusters": [
            {
                "id": cluster,
                "name": "lab",
                "workflows": [
                    {
                        "id": workflow,
                        "target_version": "v1.30",
                        "points": [{"task": "PreCheck"}, {"task": "Cluster"}],
                        "script": [{"task": "PreCheck", "status": "Running"}],
                    }
                ],
            }
        ],
    }
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(data))
    world = build_world(load_scenario(path), step_seconds=1.0, clock=clock)
    assert world.phase(workflow) == "Init"
    clock.now += 1.0
    assert world.phase(workflow) == "Running"
    text = describe_world(world, "http://127.0.0.1:8080")
    assert cluster in text and workflow in text and "lab" in text


def test_default_world_description_is_ready_to_paste(world: World) -> None:
    text = describe_world(world, "http://127.0.0.1:8080")
    for ident in (PROJECT, FAILED_CLUSTER, FAILED_WF, RUNNING_WF, DONE_WF, BLOCKED_WF):
        assert ident in text
    assert f"curl -s http://127.0.0.1:8080{wf_path(FAILED_CLUSTER, FAILED_WF)}" in text
