"""The client over HTTPS against the simulator's `--tls`: trusted through `cce.ca_bundle`,
refused (clearly, once, nothing sent) through the system trust store.

Connections are counted by the simulator (`Call.peer`: one client address and port per
connection), so "one handshake for many reads" is what the server saw.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.cce.client import CCEClient, RetryPolicy, http_client
from bot.cce.endpoints import ClusterRef, ProjectRef
from bot.cce.errors import CCEInvalidRequest, CCETLSError, CCETransportError
from bot.cce.transport import tls_context
from bot.simulator import RunningSimulator, running_simulator
from tests.e2e import PROD, WF_FAILED

FAST = RetryPolicy(wait_initial=0.01, wait_max=0.05, wait_jitter=0.0)


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    async with running_simulator(tls=True) as running:
        yield running


class Attempts:
    """The client's observer: one entry per HTTP attempt."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int | None]] = []

    def __call__(self, operation: str, status: int | None, seconds: float) -> None:
        self.seen.append((operation, status))


def make(
    transport: str, ca_bundle: Path | None, attempts: Attempts
) -> tuple[CCEClient, httpx.AsyncClient]:
    if transport == "aiohttp":
        http = http_client(None, timeout=5.0, ca_bundle=ca_bundle)
    else:
        http = httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(verify=tls_context(ca_bundle)), timeout=5.0
        )
    return CCEClient(http, retry=FAST, observer=attempts), http


@pytest.mark.parametrize("transport", ["aiohttp", "httpcore"])
async def test_reads_over_https_with_the_ca_bundle_share_one_connection(
    sim: RunningSimulator, transport: str
) -> None:
    assert sim.url.startswith("https://") and sim.ca_path is not None
    attempts = Attempts()
    client, _ = make(transport, sim.ca_path, attempts)
    try:
        cluster = ClusterRef(sim.project_id, PROD, sim.url)
        for _ in range(10):
            assert (await client.show_workflow(cluster, WF_FAILED)).workflow_id == WF_FAILED
        assert len(await client.list_clusters(ProjectRef(sim.project_id, sim.url))) == 4
        outcome = await client.cancel_workflow(cluster, WF_FAILED)
        assert outcome.workflow.status.phase == "Cancel"
    finally:
        await client.aclose()
    assert len(sim.world.calls) == 12
    assert len({call.peer for call in sim.world.calls}) == 1  # one TLS handshake in all


@pytest.mark.parametrize("transport", ["aiohttp", "httpcore"])
async def test_an_untrusted_certificate_fails_a_read_once_with_a_clear_error(
    sim: RunningSimulator, transport: str
) -> None:
    attempts = Attempts()
    client, _ = make(transport, None, attempts)  # the system trust store
    try:
        with pytest.raises(CCETLSError) as info:
            await client.show_workflow(ClusterRef(sim.project_id, PROD, sim.url), WF_FAILED)
    finally:
        await client.aclose()
    error = info.value
    assert isinstance(error, CCETransportError)
    assert error.sent is False
    assert "certificate is not trusted" in str(error)
    assert "cce.ca_bundle" in str(error)
    assert attempts.seen == [("show_workflow", None)]  # not retried: no retry storm
    assert sim.world.calls == []


async def test_a_cancel_to_an_untrusted_endpoint_is_not_sent(sim: RunningSimulator) -> None:
    attempts = Attempts()
    client, _ = make("aiohttp", None, attempts)
    try:
        with pytest.raises(CCETLSError):
            await client.cancel_workflow(ClusterRef(sim.project_id, PROD, sim.url), WF_FAILED)
    finally:
        await client.aclose()
    assert attempts.seen == [("cancel_workflow", None)]  # no settling read, no second PATCH
    assert sim.world.calls == []
    assert sim.world.phase(WF_FAILED) == "Pending"


async def test_a_bundle_from_another_ca_is_not_trusted_either(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    import trustme

    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    client, _ = make("aiohttp", other, Attempts())
    try:
        with pytest.raises(CCETLSError, match="not trusted"):
            await client.list_clusters(ProjectRef(sim.project_id, sim.url))
    finally:
        await client.aclose()


def test_a_missing_or_broken_ca_bundle_is_refused_at_once(tmp_path: Path) -> None:
    with pytest.raises(CCEInvalidRequest, match=r"cce\.ca_bundle"):
        tls_context(tmp_path / "absent.pem")
    broken = tmp_path / "broken.pem"
    broken.write_text("not a certificate")
    with pytest.raises(CCEInvalidRequest, match=r"cce\.ca_bundle"):
        http_client(None, ca_bundle=broken)
