"""CCEClient over real loopback HTTP against the simulator: operations, auth, retries, faults.

Everything runs unchanged: the client, httpx, the signing flow and the simulator's aiohttp app.
Assertions are about what the server received (`world.calls`) and what the client raised.
Response request ids are read off the wire with an httpx response event hook.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from httpx_aiohttp import AiohttpTransport

from bot.cce.client import CancelOutcome, CCEClient, RetryPolicy
from bot.cce.endpoints import ClusterRef, ProjectRef
from bot.cce.errors import (
    CCEAuthError,
    CCECancelUnconfirmed,
    CCEConflict,
    CCEError,
    CCEInvalidRequest,
    CCENotFound,
    CCERateLimited,
    CCEServerError,
    CCETransportError,
)
from bot.cce.signing import AKSKAuth, Credentials, TokenAuth, parse_authorization
from bot.simulator import (
    CANCEL_REFUSED_CODE,
    NOT_FOUND_CODE,
    Fault,
    RunningSimulator,
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

UNKNOWN_WF = "00000000-0000-4000-8000-000000000000"
CANCEL_BODY = b'{"status":{"phase":"Cancel"}}'

FAST = {"wait_initial": 0.01, "wait_max": 0.05, "wait_jitter": 0.0}


def wf_path(cluster_id: str, workflow_id: str | None = None) -> str:
    path = f"/autopilot/v3/projects/{PROJECT}/clusters/{cluster_id}/operation/upgradeworkflows"
    return path if workflow_id is None else f"{path}/{workflow_id}"


def methods(sim: RunningSimulator) -> list[str]:
    return [call.method for call in sim.world.calls]


class Wire:
    """What came back over HTTP: each response's status and `X-Request-Id`, in order."""

    def __init__(self) -> None:
        self.responses: list[tuple[str, int, str | None]] = []

    async def __call__(self, response: httpx.Response) -> None:
        self.responses.append(
            (response.request.method, response.status_code, response.headers.get("x-request-id"))
        )

    def last_request_id(self) -> str | None:
        return self.responses[-1][2]


MakeClient = Callable[..., tuple[CCEClient, Wire]]


@pytest.fixture(params=["aiohttp", "httpcore"])
async def make_client(request: pytest.FixtureRequest) -> AsyncIterator[MakeClient]:
    """Build `CCEClient(httpx.AsyncClient(auth=…, timeout=…), retry=fast policy)`; closed after.

    Every test runs on both transports: aiohttp's (what the bot uses) and httpx's own.
    """
    made: list[CCEClient] = []

    def make(
        auth: httpx.Auth | None = None,
        timeout: float | httpx.Timeout = 2.0,
        **retry: Any,
    ) -> tuple[CCEClient, Wire]:
        wire = Wire()
        transport = AiohttpTransport(trust_env=False) if request.param == "aiohttp" else None
        http = httpx.AsyncClient(
            auth=auth, timeout=timeout, event_hooks={"response": [wire]}, transport=transport
        )
        client = CCEClient(http, retry=RetryPolicy(**(FAST | retry)))
        made.append(client)
        return client, wire

    yield make
    for client in made:
        await client.aclose()


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    async with running_simulator() as running:
        yield running


def ref(sim: RunningSimulator, cluster_id: str = FAILED_CLUSTER) -> ClusterRef:
    return ClusterRef(sim.project_id, cluster_id, sim.url)


# -- the four operations -----------------------------------------------------------------------


async def test_show_returns_the_workflow_and_sends_one_get(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    client, _ = make_client()
    task = await client.show_workflow(ref(sim), FAILED_WF)
    assert task.workflow_id == FAILED_WF
    assert task.status.phase == "Pending"
    assert task.spec.cluster_id == FAILED_CLUSTER
    [call] = sim.world.calls
    assert (call.method, call.path, call.body) == ("GET", wf_path(FAILED_CLUSTER, FAILED_WF), b"")
    assert call.headers["X-Project-Id"] == PROJECT


async def test_show_lower_cases_an_upper_case_workflow_id(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    client, _ = make_client()
    task = await client.show_workflow(ref(sim), FAILED_WF.upper())
    assert task.workflow_id == FAILED_WF
    assert sim.world.calls[0].path == wf_path(FAILED_CLUSTER, FAILED_WF)


async def test_list_is_newest_first_whatever_order_the_api_uses(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    world = sim.world
    # The simulator lists in reverse insertion order; insert so that is not the creation order.
    newest = world.add_workflow(FAILED_CLUSTER, age_seconds=0)
    oldest = world.add_workflow(FAILED_CLUSTER, age_seconds=10 * 86400)
    middle = world.add_workflow(FAILED_CLUSTER, age_seconds=3600)
    served = [w["metadata"]["uid"] for w in world.list_workflows(PROJECT, FAILED_CLUSTER)["items"]]
    assert served[:3] == [middle, oldest, newest]

    client, _ = make_client()
    listed = await client.list_workflows(ref(sim))
    # FAILED_WF is 95 minutes old: between `middle` (1 h) and `oldest` (10 days).
    assert [w.workflow_id for w in listed] == [newest, middle, FAILED_WF, oldest]
    assert methods(sim) == ["GET"]
    assert sim.world.calls[0].path == wf_path(FAILED_CLUSTER)


async def test_create_posts_the_spec_and_returns_the_new_workflow(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    client, _ = make_client()
    task = await client.create_workflow(ref(sim, DONE_CLUSTER), "v1.29", "v1.30")
    assert task.status.phase == "Init"
    assert task.spec.target_version == "v1.30"
    assert task.workflow_id in sim.world.workflow_ids(DONE_CLUSTER)
    [call] = sim.world.calls
    assert (call.method, call.path) == ("POST", wf_path(DONE_CLUSTER))
    assert json.loads(call.body) == {
        "kind": "WorkFlowTask",
        "apiVersion": "v3",
        "spec": {"clusterID": DONE_CLUSTER, "clusterVersion": "v1.29", "targetVersion": "v1.30"},
    }


async def test_create_is_not_retried_on_a_5xx(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    client, _ = make_client()
    sim.faults.fail_next(503)
    with pytest.raises(CCEServerError) as info:
        await client.create_workflow(ref(sim, DONE_CLUSTER), "v1.29", "v1.30")
    assert info.value.status == 503
    assert methods(sim) == ["POST"]
    assert sim.world.workflow_ids(DONE_CLUSTER) == [DONE_WF]


async def test_cancel_sends_exactly_the_cancel_body_once(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    client, wire = make_client()
    outcome = await client.cancel_workflow(ref(sim), FAILED_WF)
    assert isinstance(outcome, CancelOutcome)
    assert outcome.workflow.status.phase == "Cancel"
    assert outcome.workflow.workflow_id == FAILED_WF
    assert outcome.request_id is not None
    assert outcome.request_id == wire.last_request_id()
    assert (outcome.confirmed_by_read, outcome.resent) == (False, False)
    [call] = sim.world.calls
    assert (call.method, call.path) == ("PATCH", wf_path(FAILED_CLUSTER, FAILED_WF))
    assert call.body == CANCEL_BODY
    assert call.headers["Content-Type"] == "application/json"
    assert sim.world.phase(FAILED_WF) == "Cancel"


@pytest.mark.parametrize(
    ("cluster_id", "workflow_id", "reason"),
    [
        (RUNNING_CLUSTER, RUNNING_WF, "phase is Running"),
        (DONE_CLUSTER, DONE_WF, "phase is Success"),
        (BLOCKED_CLUSTER, BLOCKED_WF, "critical line Snapshot -> Cluster"),
    ],
)
async def test_a_refused_cancel_raises_conflict_with_the_api_error(
    sim: RunningSimulator,
    make_client: MakeClient,
    cluster_id: str,
    workflow_id: str,
    reason: str,
) -> None:
    client, wire = make_client()
    with pytest.raises(CCEConflict) as info:
        await client.cancel_workflow(ref(sim, cluster_id), workflow_id)
    error = info.value
    assert error.status == 400
    assert error.error_code == CANCEL_REFUSED_CODE
    assert error.error_msg is not None
    assert error.error_msg.startswith("Upgrade workflow cannot be cancelled: ")
    assert reason in error.error_msg
    assert error.request_id is not None
    assert error.request_id == wire.last_request_id()
    assert error.request_id in str(error)
    assert methods(sim) == ["PATCH"]  # a definite refusal is neither re-read nor resent


async def test_a_second_cancel_is_refused_as_a_conflict(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    client, _ = make_client()
    await client.cancel_workflow(ref(sim), FAILED_WF)
    with pytest.raises(CCEConflict, match="phase is Cancel"):
        await client.cancel_workflow(ref(sim), FAILED_WF)
    assert methods(sim) == ["PATCH", "PATCH"]


@pytest.mark.parametrize("operation", ["show", "cancel"])
async def test_an_unknown_workflow_is_not_found(
    sim: RunningSimulator, make_client: MakeClient, operation: str
) -> None:
    client, wire = make_client()
    with pytest.raises(CCENotFound) as info:
        if operation == "show":
            await client.show_workflow(ref(sim), UNKNOWN_WF)
        else:
            await client.cancel_workflow(ref(sim), UNKNOWN_WF)
    assert info.value.status == 404
    assert info.value.error_code == NOT_FOUND_CODE
    assert UNKNOWN_WF in (info.value.error_msg or "")
    assert info.value.request_id == wire.last_request_id()
    assert len(sim.world.calls) == 1  # a 404 is an answer: not retried


async def test_a_workflow_of_another_cluster_is_not_found(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    client, _ = make_client()
    with pytest.raises(CCENotFound):
        await client.show_workflow(ref(sim, RUNNING_CLUSTER), FAILED_WF)


# -- clusters ------------------------------------------------------------------------------------


async def test_list_clusters_returns_names_ids_versions_and_phases(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    client, _ = make_client()
    clusters = await client.list_clusters(ProjectRef(sim.project_id, sim.url))
    assert [(c.name, c.cluster_id, c.spec.version, c.status.phase) for c in clusters] == [
        ("prod-eu", FAILED_CLUSTER, "v1.28", "Available"),
        ("staging-eu", RUNNING_CLUSTER, "v1.28", "Upgrading"),
        ("dev-eu", DONE_CLUSTER, "v1.29", "Available"),
        ("qa-eu", BLOCKED_CLUSTER, "v1.28", "Available"),
    ]
    [call] = sim.world.calls
    assert (call.method, call.path) == ("GET", f"/autopilot/v3/projects/{PROJECT}/clusters")
    assert call.headers["X-Project-Id"] == PROJECT


async def test_show_cluster_returns_the_cluster(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    client, _ = make_client()
    cluster = await client.show_cluster(ref(sim, DONE_CLUSTER))
    assert (cluster.name, cluster.cluster_id, cluster.spec.version) == (
        "dev-eu",
        DONE_CLUSTER,
        "v1.29",
    )
    assert cluster.spec.platform_version and cluster.metadata.creation_timestamp
    assert sim.world.calls[0].path == f"/autopilot/v3/projects/{PROJECT}/clusters/{DONE_CLUSTER}"


async def test_cluster_reads_are_retried_and_unknown_ones_not_found(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    client, wire = make_client()
    sim.faults.fail_next(503)
    assert len(await client.list_clusters(ProjectRef(PROJECT, sim.url))) == 4
    assert methods(sim) == ["GET", "GET"]
    unknown = ClusterRef(PROJECT, "00000000-0000-4000-8000-000000000000", sim.url)
    with pytest.raises(CCENotFound) as info:
        await client.show_cluster(unknown)
    assert info.value.request_id == wire.last_request_id()
    with pytest.raises(CCENotFound, match="project"):
        await client.list_clusters(ProjectRef("0" * 32, sim.url))


async def test_probe_reports_latency_the_gateway_date_and_the_request_id(
    make_client: MakeClient,
) -> None:
    from datetime import UTC, datetime, timedelta

    async with running_simulator(date_offset=-1800) as sim:
        client, wire = make_client()
        probe = await client.probe(ProjectRef(sim.project_id, sim.url))
        assert probe.request_id == wire.last_request_id()
        assert probe.cluster_count == 4
        assert 0 < probe.latency_s < 2
        assert probe.server_date is not None
        skew = probe.server_date - datetime.now(UTC)
        assert abs(skew + timedelta(minutes=30)) < timedelta(seconds=5)
        sim.faults.fail_next(503)
        with pytest.raises(CCEServerError) as info:  # one call, not retried: doctor reports it
            await client.probe(ProjectRef(sim.project_id, sim.url))
        assert methods(sim) == ["GET", "GET"]
        assert info.value.server_date is not None  # an error answer's Date is kept too
        assert abs(info.value.server_date - probe.server_date) < timedelta(seconds=5)


# -- auth ----------------------------------------------------------------------------------------


async def test_aksk_signed_requests_are_accepted(make_client: MakeClient) -> None:
    async with running_simulator(credentials={"AKTEST": "SKTEST"}) as sim:
        client, _ = make_client(AKSKAuth(Credentials("AKTEST", "SKTEST")))
        assert (await client.show_workflow(ref(sim), FAILED_WF)).workflow_id == FAILED_WF
        outcome = await client.cancel_workflow(ref(sim), FAILED_WF)
        assert outcome.workflow.status.phase == "Cancel"
        for call in sim.world.calls:
            parsed = parse_authorization(call.headers["Authorization"])
            assert parsed is not None and parsed.access_key == "AKTEST"
            assert {"host", "x-sdk-date", "x-project-id"} <= set(parsed.signed_headers)
            assert "X-Security-Token" not in call.headers
        assert methods(sim) == ["GET", "PATCH"]


async def test_a_wrong_secret_key_is_an_auth_error(make_client: MakeClient) -> None:
    async with running_simulator(credentials={"AKTEST": "SKTEST"}) as sim:
        client, wire = make_client(AKSKAuth(Credentials("AKTEST", "WRONG")))
        with pytest.raises(CCEAuthError) as info:
            await client.show_workflow(ref(sim), FAILED_WF)
        assert info.value.status == 401
        assert info.value.error_code == "APIGW.0301"
        assert "verify aksk signature fail" in (info.value.error_msg or "")
        assert info.value.request_id == wire.last_request_id()
        assert methods(sim) == ["GET"]  # an auth error is not retried


async def test_an_unknown_access_key_is_an_auth_error(make_client: MakeClient) -> None:
    async with running_simulator(credentials={"AKTEST": "SKTEST"}) as sim:
        client, _ = make_client(AKSKAuth(Credentials("AKOTHER", "SKTEST")))
        with pytest.raises(CCEAuthError, match=r"APIGW\.0301"):
            await client.cancel_workflow(ref(sim), FAILED_WF)
        assert methods(sim) == ["PATCH"]
        assert sim.world.phase(FAILED_WF) == "Pending"


async def test_a_security_token_is_sent_and_signed(make_client: MakeClient) -> None:
    async with running_simulator(credentials={"AKTEST": "SKTEST"}) as sim:
        creds = Credentials("AKTEST", "SKTEST", security_token="STS")
        client, _ = make_client(AKSKAuth(creds))
        await client.show_workflow(ref(sim), FAILED_WF)  # the simulator verified the signature
        [call] = sim.world.calls
        assert call.headers["X-Security-Token"] == "STS"
        parsed = parse_authorization(call.headers["Authorization"])
        assert parsed is not None
        assert "x-security-token" in parsed.signed_headers


async def test_token_auth_is_accepted_and_a_wrong_token_refused(make_client: MakeClient) -> None:
    async with running_simulator(token="tok123") as sim:
        good, _ = make_client(TokenAuth("tok123"))
        assert (await good.show_workflow(ref(sim), FAILED_WF)).workflow_id == FAILED_WF
        assert sim.world.calls[-1].headers["X-Auth-Token"] == "tok123"
        assert "Authorization" not in sim.world.calls[-1].headers

        bad, _ = make_client(TokenAuth("tok999"))
        with pytest.raises(CCEAuthError) as info:
            await bad.list_workflows(ref(sim))
        assert (info.value.status, info.value.error_code) == (401, "APIGW.0307")
        assert methods(sim) == ["GET", "GET"]


async def test_no_credentials_at_all_is_an_auth_error(make_client: MakeClient) -> None:
    async with running_simulator(token="tok123") as sim:
        client, _ = make_client()
        with pytest.raises(CCEAuthError):
            await client.show_workflow(ref(sim), FAILED_WF)


# -- retries of reads ----------------------------------------------------------------------------


async def test_a_503_read_is_retried(sim: RunningSimulator, make_client: MakeClient) -> None:
    client, wire = make_client()
    sim.faults.fail_next(503)
    task = await client.show_workflow(ref(sim), FAILED_WF)
    assert task.workflow_id == FAILED_WF
    assert methods(sim) == ["GET", "GET"]
    assert [status for _, status, _ in wire.responses] == [503, 200]


async def test_a_500_list_is_retried(sim: RunningSimulator, make_client: MakeClient) -> None:
    client, _ = make_client()
    sim.faults.fail_next(500, count=2)
    assert [w.workflow_id for w in await client.list_workflows(ref(sim))] == [FAILED_WF]
    assert methods(sim) == ["GET", "GET", "GET"]


async def test_a_429_honours_retry_after(sim: RunningSimulator, make_client: MakeClient) -> None:
    client, wire = make_client()
    sim.faults.fail_next(429, retry_after=0.3)
    started = time.monotonic()
    task = await client.show_workflow(ref(sim), FAILED_WF)
    elapsed = time.monotonic() - started
    assert task.workflow_id == FAILED_WF
    assert methods(sim) == ["GET", "GET"]
    assert [status for _, status, _ in wire.responses] == [429, 200]
    # The exponential backoff alone would have waited 0.01 s.
    assert elapsed >= 0.3


async def test_a_429_asking_for_too_long_a_wait_is_not_retried(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    client, _ = make_client(max_retry_after=1.0)
    sim.faults.fail_next(429, retry_after=60)
    with pytest.raises(CCERateLimited) as info:
        await client.show_workflow(ref(sim), FAILED_WF)
    assert info.value.status == 429
    assert info.value.retry_after == 60
    assert info.value.error_code == "APIGW.0308"
    assert methods(sim) == ["GET"]


async def test_a_non_json_502_beyond_the_attempts_is_a_server_error(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    client, wire = make_client(attempts=3)
    sim.faults.fail_next(502, count=5)
    with pytest.raises(CCEServerError) as info:
        await client.show_workflow(ref(sim), FAILED_WF)
    error = info.value
    assert error.status == 502
    assert error.error_code is None
    assert "non-JSON" in (error.error_msg or "")
    assert "text/html" in (error.error_msg or "")
    assert error.request_id == wire.last_request_id()
    assert methods(sim) == ["GET"] * 3


async def test_a_slow_read_times_out_after_the_retries(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    client, _ = make_client(timeout=httpx.Timeout(0.1), attempts=2)
    sim.faults.latency = 0.5
    with pytest.raises(CCETransportError, match="timed out") as info:
        await client.show_workflow(ref(sim), FAILED_WF)
    assert info.value.sent is True
    assert methods(sim) == ["GET", "GET"]


async def test_a_hung_read_is_retried_and_then_answers(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    client, _ = make_client(timeout=httpx.Timeout(0.2))
    sim.faults.hang_seconds = 1.0
    sim.faults.scripted.append(Fault("hang"))
    task = await client.show_workflow(ref(sim), FAILED_WF)
    assert task.workflow_id == FAILED_WF
    assert methods(sim) == ["GET", "GET"]


async def test_every_read_hanging_is_a_transport_error(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    client, _ = make_client(timeout=httpx.Timeout(0.1), attempts=3)
    sim.faults.hang_seconds = 1.0
    sim.faults.timeout_rate = 1.0
    with pytest.raises(CCETransportError):
        await client.list_workflows(ref(sim))
    assert methods(sim) == ["GET"] * 3


async def test_a_refused_connection_is_a_transport_error_not_sent(
    make_client: MakeClient,
) -> None:
    client, _ = make_client(attempts=2)
    with pytest.raises(CCETransportError, match="connection failed") as info:
        await client.show_workflow(
            ClusterRef(PROJECT, FAILED_CLUSTER, _closed_port_url()), FAILED_WF
        )
    assert info.value.sent is False


# -- the cancel under faults: never blindly retried ----------------------------------------------


async def test_a_503_on_the_cancel_is_settled_by_a_read_then_sent_once_more(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    client, wire = make_client()
    sim.faults.fail_next(503)
    outcome = await client.cancel_workflow(ref(sim), FAILED_WF)
    assert methods(sim) == ["PATCH", "GET", "PATCH"]
    assert [c.body for c in sim.world.calls] == [CANCEL_BODY, b"", CANCEL_BODY]
    assert outcome.workflow.status.phase == "Cancel"
    assert (outcome.confirmed_by_read, outcome.resent) == (False, True)
    assert outcome.request_id == wire.last_request_id()
    assert sim.world.phase(FAILED_WF) == "Cancel"


async def test_a_503_on_the_cancel_of_a_workflow_now_running_is_not_resent(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    client, _ = make_client()
    sim.faults.fail_next(503)
    sim.world.set_task_status(FAILED_WF, "Cluster", "Running")
    with pytest.raises(CCECancelUnconfirmed, match="Pending, not Cancel"):
        await client.cancel_workflow(ref(sim), FAILED_WF)
    assert methods(sim) == ["PATCH", "GET"]


async def test_a_cancel_whose_answer_is_lost_is_confirmed_by_a_read(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    client, wire = make_client()
    sim.faults.drop_next(after_apply=True)
    outcome = await client.cancel_workflow(ref(sim), FAILED_WF)
    assert outcome.confirmed_by_read is True
    assert outcome.resent is False
    assert outcome.workflow.status.phase == "Cancel"
    assert methods(sim) == ["PATCH", "GET"]
    assert methods(sim).count("PATCH") == 1
    # The PATCH had no answer; the only response seen is the read's.
    assert [(m, s) for m, s, _ in wire.responses] == [("GET", 200)]


async def test_a_cancel_dropped_before_it_applied_is_sent_once_more(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    client, _ = make_client()
    sim.faults.drop_next(after_apply=False)
    outcome = await client.cancel_workflow(ref(sim), FAILED_WF)
    assert methods(sim) == ["PATCH", "GET", "PATCH"]
    assert (outcome.confirmed_by_read, outcome.resent) == (False, True)
    assert sim.world.phase(FAILED_WF) == "Cancel"


async def test_a_cancel_lost_twice_gives_up_unconfirmed(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    client, _ = make_client()
    # Scripted faults are taken one per request; a zero-second hang is a pass-through slot
    # that lets the reads in between be answered normally.
    sim.faults.hang_seconds = 0.0
    for _ in range(2):
        sim.faults.drop_next(after_apply=False)
        sim.faults.scripted.append(Fault("hang"))
    with pytest.raises(CCECancelUnconfirmed, match="Pending, not Cancel"):
        await client.cancel_workflow(ref(sim), FAILED_WF)
    # Sent at most twice, each time only after a read showed it still cancellable.
    assert methods(sim) == ["PATCH", "GET", "PATCH", "GET"]
    assert sim.world.phase(FAILED_WF) == "Pending"


async def test_a_lost_cancel_whose_read_fails_too_is_unconfirmed(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    client, _ = make_client(attempts=2)
    sim.faults.drop_next(after_apply=True)
    sim.faults.fail_next(503, count=2)
    with pytest.raises(CCECancelUnconfirmed) as info:
        await client.cancel_workflow(ref(sim), FAILED_WF)
    assert isinstance(info.value.__cause__, CCEServerError)
    assert methods(sim) == ["PATCH", "GET", "GET"]
    assert sim.world.phase(FAILED_WF) == "Cancel"  # it did apply: hence "unconfirmed"


async def test_a_cancel_whose_answer_hangs_is_settled_by_a_read(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    client, _ = make_client(timeout=httpx.Timeout(0.2))
    # The simulator's hang happens before the handler runs: the read sees it still Pending,
    # so the client sends the cancel one more time.
    sim.faults.hang_seconds = 1.0
    sim.faults.scripted.append(Fault("hang"))
    outcome = await client.cancel_workflow(ref(sim), FAILED_WF)
    assert methods(sim) == ["PATCH", "GET", "PATCH"]
    assert (outcome.confirmed_by_read, outcome.resent) == (False, True)
    assert outcome.workflow.status.phase == "Cancel"


async def test_a_cancel_whose_answer_hangs_after_it_applied_is_confirmed_by_the_read(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    client, _ = make_client(timeout=httpx.Timeout(0.2))
    # The cancel applies, then the answer never comes (dropped), then the read hangs once
    # and is retried: one PATCH in all, confirmed by the read.
    sim.faults.hang_seconds = 1.0
    sim.faults.drop_next(after_apply=True)
    sim.faults.scripted.append(Fault("hang"))
    outcome = await client.cancel_workflow(ref(sim), FAILED_WF)
    assert methods(sim) == ["PATCH", "GET", "GET"]
    assert outcome.confirmed_by_read is True


async def test_a_429_on_the_cancel_is_raised_not_retried(
    sim: RunningSimulator, make_client: MakeClient
) -> None:
    client, _ = make_client()
    sim.faults.fail_next(429, retry_after=0.01)
    with pytest.raises(CCERateLimited):
        await client.cancel_workflow(ref(sim), FAILED_WF)
    assert methods(sim) == ["PATCH"]
    assert sim.world.phase(FAILED_WF) == "Pending"


# -- path parameters are validated before any request --------------------------------------------

HOSTILE_UUIDS = [
    "",
    " ",
    "../",
    "..",
    "..%2f",
    "%2f",
    "%2F..%2F",
    f"../{FAILED_WF}",
    f"{FAILED_WF}/..",
    f"{FAILED_WF}/../{RUNNING_WF}",
    f"{FAILED_WF}?x=1",
    f"{FAILED_WF}#frag",
    f"{FAILED_WF}%3Fx=1",
    f" {FAILED_WF}",
    f"{FAILED_WF} ",
    f"{FAILED_WF}\n",
    f"{FAILED_WF}\r\nX-Injected: 1",
    f"{FAILED_WF}\t",
    f"{FAILED_WF}\x00",
    f"{FAILED_WF}x",
    f"{FAILED_WF}0",
    FAILED_WF[:-1],
    FAILED_WF.replace("-", ""),
    FAILED_WF.replace("-", "_"),
    "{" + FAILED_WF + "}",
    "\u0668" + FAILED_WF[1:],  # ARABIC-INDIC DIGIT EIGHT
    FAILED_WF[:-1] + "\uff11",  # FULLWIDTH DIGIT ONE
    FAILED_WF.replace("a", "\u0430"),  # Cyrillic a
    "\u212a" * 36,  # KELVIN SIGN lower-cases to k
    "8" * 100_000,
    FAILED_WF * 2,
]

HOSTILE_PROJECTS = [
    "",
    "../",
    "..%2f",
    "%2f",
    f"{PROJECT}/",
    f"{PROJECT}/../{PROJECT}",
    f"{PROJECT}?x=1",
    f"{PROJECT}#x",
    f"{PROJECT}\n",
    f" {PROJECT}",
    PROJECT[:-1],
    PROJECT + "0",
    PROJECT[:-1] + "g",
    PROJECT[:-1] + "\u0664",  # ARABIC-INDIC DIGIT FOUR
    FAILED_CLUSTER,
    "0" * 10_000,
]

HOSTILE_ENDPOINTS = [
    "",
    "h",
    "127.0.0.1:8080",
    "//h",
    "https://",
    "https:///path",
    "https://h/path",
    "https://h/autopilot/v3",
    "https://h//",
    "https://h/..",
    "https://h?x=1",
    "https://h#frag",
    "https://user:pw@h",
    "https://user@h",
    "https://h\\@evil",
    "ftp://x",
    "file:///etc/passwd",
    "javascript:alert(1)",
    "ws://h",
    "https://h:abc",
    "https://h:99999",
    "https://h:-1",
    "https://h:0",
    "https://[::1",
    "https://a b",
    "https://%2e%2e",
    "https://h%2f..",
    "https://h_1",
    "https://-h",
]


@pytest.fixture
def no_network() -> Iterator[tuple[CCEClient, list[httpx.Request]]]:
    """A client whose transport records every request it is asked to send."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(500)

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    yield CCEClient(http, retry=RetryPolicy(**FAST)), seen


GOOD_REF = ClusterRef(PROJECT, FAILED_CLUSTER, "https://cce.eu-west-101.myhuaweicloud.eu")


@pytest.mark.parametrize("workflow_id", HOSTILE_UUIDS, ids=repr)
@pytest.mark.parametrize("operation", ["show", "cancel"])
async def test_a_hostile_workflow_id_is_refused_without_a_request(
    no_network: tuple[CCEClient, list[httpx.Request]], operation: str, workflow_id: str
) -> None:
    client, seen = no_network
    with pytest.raises(CCEInvalidRequest, match="workflow id") as info:
        if operation == "show":
            await client.show_workflow(GOOD_REF, workflow_id)
        else:
            await client.cancel_workflow(GOOD_REF, workflow_id)
    assert len(str(info.value)) < 200  # a huge id is shortened in the message
    assert seen == []
    await client.aclose()


@pytest.mark.parametrize("cluster_id", HOSTILE_UUIDS, ids=repr)
def test_a_hostile_cluster_id_is_refused(
    no_network: tuple[CCEClient, list[httpx.Request]], cluster_id: str
) -> None:
    _, seen = no_network
    with pytest.raises(CCEInvalidRequest, match="cluster id"):
        ClusterRef(PROJECT, cluster_id, "https://h")
    assert seen == []


@pytest.mark.parametrize("project_id", HOSTILE_PROJECTS, ids=repr)
def test_a_hostile_project_id_is_refused(
    no_network: tuple[CCEClient, list[httpx.Request]], project_id: str
) -> None:
    _, seen = no_network
    with pytest.raises(CCEInvalidRequest, match="project id"):
        ClusterRef(project_id, FAILED_CLUSTER, "https://h")
    with pytest.raises(CCEInvalidRequest, match="project id"):
        ProjectRef(project_id, "https://h")
    assert seen == []


@pytest.mark.parametrize("endpoint", HOSTILE_ENDPOINTS, ids=repr)
def test_a_hostile_endpoint_is_refused(
    no_network: tuple[CCEClient, list[httpx.Request]], endpoint: str
) -> None:
    _, seen = no_network
    with pytest.raises(CCEInvalidRequest, match="endpoint"):
        ClusterRef(PROJECT, FAILED_CLUSTER, endpoint)
    with pytest.raises(CCEInvalidRequest, match="endpoint"):
        ProjectRef(PROJECT, endpoint)
    assert seen == []


async def test_an_endpoint_httpx_cannot_parse_is_refused_without_a_request(
    no_network: tuple[CCEClient, list[httpx.Request]],
) -> None:
    # validate_endpoint accepts this host (digits and dots) but httpx refuses it as an IPv4
    # address; the client must still answer with a CCEError (not httpx.InvalidURL), sending nothing.
    client, seen = no_network
    cluster = ClusterRef(PROJECT, FAILED_CLUSTER, "https://999.1.1.1")
    with pytest.raises(CCEInvalidRequest):
        await client.show_workflow(cluster, FAILED_WF)
    with pytest.raises(CCEInvalidRequest):
        await client.cancel_workflow(cluster, FAILED_WF)
    assert seen == []
    await client.aclose()


@pytest.mark.parametrize(
    ("endpoint", "normalised"),
    [
        ("https://cce.eu-west-101.myhuaweicloud.eu/", "https://cce.eu-west-101.myhuaweicloud.eu"),
        ("  http://127.0.0.1:8080 ", "http://127.0.0.1:8080"),
    ],
)
def test_good_endpoints_are_normalised(endpoint: str, normalised: str) -> None:
    assert ClusterRef(PROJECT, FAILED_CLUSTER, endpoint).endpoint == normalised


# -- secrets never leak --------------------------------------------------------------------------

SK = "SK-SECRET-3a9f51c7"
STS = "STS-SECRET-8d02e6b4"
TOKEN = "TOKEN-SECRET-1c7e90fa"
WRONG_SK = "SK-WRONG-5b3c88d1"
WRONG_TOKEN = "TOKEN-WRONG-77e2a0c9"
SECRETS = (SK, STS, TOKEN, WRONG_SK, WRONG_TOKEN)


def _texts(exc: BaseException) -> Iterator[str]:
    """str and repr of the error and of everything it was raised from."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield str(current)
        yield repr(current)
        current = current.__cause__ or current.__context__


def _assert_no_secret(exc: BaseException, caplog: pytest.LogCaptureFixture) -> None:
    logged = caplog.text + "".join(repr(vars(r)) for r in caplog.records)
    for secret in SECRETS:
        for text in _texts(exc):
            assert secret not in text
        assert secret not in logged


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize(
    "auth",
    [
        AKSKAuth(Credentials("AKTEST", WRONG_SK, security_token=STS)),
        AKSKAuth(Credentials("AKOTHER", SK, security_token=STS)),
        TokenAuth(WRONG_TOKEN),
    ],
    ids=["wrong-sk", "unknown-ak", "wrong-token"],
)
async def test_an_auth_error_carries_no_secret(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture, auth: httpx.Auth
) -> None:
    caplog.set_level(logging.DEBUG)
    async with running_simulator(credentials={"AKTEST": SK}, token=TOKEN) as sim:
        client, _ = make_client(auth)
        for attempt in (client.show_workflow, client.cancel_workflow):
            with pytest.raises(CCEAuthError) as info:
                await attempt(ref(sim), FAILED_WF)
            _assert_no_secret(info.value, caplog)
        assert repr(auth) in {"AKSKAuth(***)", "TokenAuth(***)"}


@pytest.mark.parametrize(
    "auth",
    [AKSKAuth(Credentials("AKTEST", SK, security_token=STS)), TokenAuth(TOKEN)],
    ids=["aksk", "token"],
)
async def test_a_transport_error_carries_no_secret(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture, auth: httpx.Auth
) -> None:
    caplog.set_level(logging.DEBUG)
    async with running_simulator(credentials={"AKTEST": SK}, token=TOKEN) as sim:
        client, _ = make_client(auth, timeout=httpx.Timeout(0.1), attempts=2)
        sim.faults.hang_seconds = 1.0
        sim.faults.timeout_rate = 1.0
        with pytest.raises(CCETransportError) as timed_out:
            await client.show_workflow(ref(sim), FAILED_WF)
        _assert_no_secret(timed_out.value, caplog)
        with pytest.raises(CCEError) as unconfirmed:
            await client.cancel_workflow(ref(sim), FAILED_WF)
        assert isinstance(unconfirmed.value, CCECancelUnconfirmed)
        _assert_no_secret(unconfirmed.value, caplog)
    refused = ClusterRef(PROJECT, FAILED_CLUSTER, _closed_port_url())
    with pytest.raises(CCETransportError) as not_sent:
        await client.show_workflow(refused, FAILED_WF)
    _assert_no_secret(not_sent.value, caplog)
