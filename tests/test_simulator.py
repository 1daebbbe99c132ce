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


# -- clusters ----------------------------------------------------------------------------------

OTHER_PROJECT = "0123456789abcdef0123456789abcdef"
TWIN = "11111111-2222-4333-8444-555555555555"


def clusters_path(project_id: str = PROJECT, cluster_id: str | None = None) -> str:
    path = f"/autopilot/v3/projects/{project_id}/clusters"
    return path if cluster_id is None else f"{path}/{cluster_id}"


async def test_list_clusters_shows_each_cluster_with_its_name_version_and_phase(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(clusters_path())
    assert response.status_code == 200
    assert response.headers["X-Request-Id"]
    body = response.json()
    assert body["apiVersion"] == "v3"
    seen = [
        (c["metadata"]["name"], c["metadata"]["uid"], c["spec"]["version"], c["status"]["phase"])
        for c in body["items"]
    ]
    assert seen == [
        ("prod-eu", FAILED_CLUSTER, "v1.28", "Available"),
        ("staging-eu", RUNNING_CLUSTER, "v1.28", "Upgrading"),  # its workflow is Running
        ("dev-eu", DONE_CLUSTER, "v1.29", "Available"),
        ("qa-eu", BLOCKED_CLUSTER, "v1.28", "Available"),
    ]


async def test_show_cluster_answers_one_cluster_and_follows_its_workflows(
    client: httpx.AsyncClient, clock: FakeClock, world: World
) -> None:
    response = await client.get(clusters_path(PROJECT, RUNNING_CLUSTER))
    assert response.status_code == 200
    cluster = response.json()
    assert (cluster["metadata"]["uid"], cluster["metadata"]["name"]) == (
        RUNNING_CLUSTER,
        "staging-eu",
    )
    assert cluster["status"]["phase"] == "Upgrading"
    clock.now += 10.0  # the running workflow plays out to Success
    again = await client.get(clusters_path(PROJECT, RUNNING_CLUSTER))
    assert again.json()["status"]["phase"] == "Available"
    world.set_cluster_phase(RUNNING_CLUSTER, "Error")
    forced = await client.get(clusters_path(PROJECT, RUNNING_CLUSTER))
    assert forced.json()["status"]["phase"] == "Error"


@pytest.mark.parametrize(
    ("path", "status", "needle"),
    [
        (clusters_path("0" * 32), 404, "project"),
        (clusters_path("0" * 32, FAILED_CLUSTER), 404, "project"),
        (clusters_path(PROJECT, "00000000-0000-4000-8000-000000000000"), 404, "cluster"),
        (clusters_path(PROJECT, "prod-eu"), 400, "cluster id"),
        (clusters_path("not-a-project"), 400, "project id"),
    ],
)
async def test_unknown_projects_and_clusters_answer_the_api_error_body(
    client: httpx.AsyncClient, path: str, status: int, needle: str
) -> None:
    response = await client.get(path)
    assert response.status_code == status
    body = response.json()
    assert body["error_code"].startswith("CCE.01")
    assert needle in body["error_msg"]
    assert response.headers["X-Request-Id"]


def two_project_scenario(tmp_path: Path) -> Path:
    """The default scenario plus a second project whose cluster is also named prod-eu."""
    data = json.loads(
        (Path(__file__).parents[1] / "bot/simulator/default_scenario.json").read_text()
    )
    data["clusters"].append(
        {"id": TWIN, "name": "prod-eu", "version": "v1.30", "project_id": OTHER_PROJECT}
    )
    path = tmp_path / "two.json"
    path.write_text(json.dumps(data))
    return path


async def test_a_scenario_may_hold_two_projects(tmp_path: Path, clock: FakeClock) -> None:
    from bot.simulator import build_world

    world = build_world(load_scenario(two_project_scenario(tmp_path)), clock=clock)
    assert world.project_ids() == [PROJECT, OTHER_PROJECT]
    async with (
        running_simulator(world) as sim,
        httpx.AsyncClient(base_url=sim.url) as http,
    ):
        other = (await http.get(clusters_path(OTHER_PROJECT))).json()["items"]
        assert [(c["metadata"]["name"], c["metadata"]["uid"]) for c in other] == [("prod-eu", TWIN)]
        first = (await http.get(clusters_path(PROJECT))).json()["items"]
        assert TWIN not in {c["metadata"]["uid"] for c in first}
        wrong_project = await http.get(clusters_path(PROJECT, TWIN))
        assert wrong_project.status_code == 404
    text = describe_world(world, "http://127.0.0.1:8080")
    assert f"http://127.0.0.1:8080{clusters_path(OTHER_PROJECT)}" in text
    assert f"(project {OTHER_PROJECT})" in text


# -- the gateway's clock -----------------------------------------------------------------------


def _date(response: httpx.Response) -> datetime:
    from email.utils import parsedate_to_datetime

    return parsedate_to_datetime(response.headers["Date"])


async def test_every_answer_carries_the_gateway_date(client: httpx.AsyncClient) -> None:
    for path in (clusters_path(), "/autopilot/v3/nothing", "/_sim/faults"):
        response = await client.get(path)
        assert abs(_date(response) - datetime.now(UTC)) < timedelta(seconds=5), path


async def test_the_date_can_be_skewed_through_the_faults_endpoint(
    client: httpx.AsyncClient,
) -> None:
    knobs = await client.post("/_sim/faults", json={"date_offset": -3600})
    assert knobs.json()["date_offset"] == -3600
    skewed = await client.get(clusters_path())
    assert abs(_date(skewed) - (datetime.now(UTC) - timedelta(hours=1))) < timedelta(seconds=5)
    await client.post("/_sim/faults", json={"clear": True})
    assert abs(_date(await client.get(clusters_path())) - datetime.now(UTC)) < timedelta(seconds=5)


@pytest.mark.parametrize(("offset", "accepted"), [(600, True), (-600, True), (1200, False)])
async def test_aksk_is_refused_when_the_gateway_clock_is_more_than_15_minutes_off(
    offset: float, accepted: bool
) -> None:
    async with (
        running_simulator(credentials={"AKTEST": "SKTEST"}, date_offset=offset) as sim,
        httpx.AsyncClient(base_url=sim.url) as http,
    ):
        auth = AKSKAuth(Credentials("AKTEST", "SKTEST"))  # signs with this machine's clock
        response = await http.get(clusters_path(), auth=auth)
        assert abs(_date(response) - datetime.now(UTC) - timedelta(seconds=offset)) < timedelta(
            seconds=5
        )
        if accepted:
            assert response.status_code == 200
        else:
            assert response.status_code == 401
            assert response.json()["error_code"] == "APIGW.0301"


# -- HTTPS -------------------------------------------------------------------------------------


async def test_tls_serves_https_with_a_certificate_its_ca_file_trusts() -> None:
    import ssl

    async with running_simulator(tls=True) as sim:
        assert sim.url.startswith("https://127.0.0.1:")
        assert sim.ca_path is not None and sim.ca_path.read_text().startswith("-----BEGIN")
        trusting = ssl.create_default_context(cafile=str(sim.ca_path))
        async with httpx.AsyncClient(base_url=sim.url, verify=trusting) as http:
            assert (await http.get(clusters_path())).status_code == 200
        async with httpx.AsyncClient(base_url=sim.url) as http:
            with pytest.raises(httpx.ConnectError):
                await http.get(clusters_path())
        ca_path = sim.ca_path
    assert not ca_path.exists()  # the throwaway CA goes with the simulator


def test_serve_prints_the_ca_path_with_tls(tmp_path: Path) -> None:
    """`serve(tls=True)` says where the CA is (run until the print, then interrupted)."""
    import io
    import threading

    from bot.simulator import serve

    out = io.StringIO()

    class Printed(io.StringIO):
        def write(self, text: str) -> int:
            out.write(text)
            if "TLS:" in text:
                raise KeyboardInterrupt
            return len(text)

    thread = threading.Thread(target=serve, kwargs={"port": 0, "tls": True, "out": Printed()})
    thread.start()
    thread.join(timeout=20)
    assert not thread.is_alive()
    assert "https://127.0.0.1:" in out.getvalue()
    assert "ca.pem" in out.getvalue() and "cce.ca_bundle" in out.getvalue()
