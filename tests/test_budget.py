"""The request budget through the simulator: order, rate, shared 429s, bounded waits, metrics.

The simulator stamps each request as it arrives (`Call.at`), so rates and order are what the
server saw. These tests wait on real time (a rate limiter's job is to make callers wait), a
second or two each at most.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from bot.cce.budget import Budget
from bot.cce.client import CCEClient, RetryPolicy
from bot.cce.endpoints import ClusterRef, ProjectRef
from bot.cce.errors import CCERateLimited, CCEThrottled
from bot.metrics import Metrics
from bot.simulator import RunningSimulator, running_simulator
from tests.e2e import PROD, STAGING, WF_FAILED, WF_RUNNING

FAST = RetryPolicy(wait_initial=0.01, wait_max=0.05, wait_jitter=0.0)


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    async with running_simulator() as running:
        yield running


@pytest.fixture
async def clients() -> AsyncIterator[Callable[..., CCEClient]]:
    made: list[CCEClient] = []

    def make(budget: Budget, retry: RetryPolicy = FAST, observer: Any = None) -> CCEClient:
        client = CCEClient(
            httpx.AsyncClient(timeout=5.0), retry=retry, budget=budget, observer=observer
        )
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


async def until(check: Callable[[], bool], within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.002)


def gather(*calls: Awaitable[Any]) -> asyncio.Future[list[Any]]:
    return asyncio.gather(*calls, return_exceptions=True)


async def test_interactive_reads_and_the_cancel_go_before_queued_background_reads(
    sim: RunningSimulator, clients: Callable[..., CCEClient]
) -> None:
    metrics = Metrics()
    budget = Budget(20, burst=4, observer=metrics)
    client = clients(budget)
    staging = ClusterRef(sim.project_id, STAGING, sim.url)
    prod = ClusterRef(sim.project_id, PROD, sim.url)
    background = gather(
        *(client.show_workflow(staging, WF_RUNNING, background=True) for _ in range(20))
    )
    await until(lambda: budget.waiting >= 16)  # four went at once, the rest wait
    assert metrics.registry.get_sample_value("cce_bot_budget_waiting") == budget.waiting
    cancel = asyncio.ensure_future(client.cancel_workflow(prod, WF_FAILED, background=True))
    interactive = gather(*(client.show_workflow(prod, WF_FAILED) for _ in range(3)))
    results = await background, await interactive
    assert (await cancel).workflow.status.phase == "Cancel"
    assert all(not isinstance(r, Exception) for group in results for r in group)

    order = [(c.method, c.path.rsplit("/", 1)[-1]) for c in sim.world.calls]
    first = order.index(("PATCH", WF_FAILED))
    assert first >= 4 and order[:first] == [("GET", WF_RUNNING)] * first
    # The cancel jumped every queued read; then the commands; the background reads last.
    assert order[first + 1 : first + 4] == [("GET", WF_FAILED)] * 3
    assert order[first + 4 :] == [("GET", WF_RUNNING)] * (20 - first)
    wait_count = "cce_bot_budget_wait_seconds_count"
    assert metrics.registry.get_sample_value(wait_count, {"priority": "background"}) == 20
    assert metrics.registry.get_sample_value(wait_count, {"priority": "interactive"}) == 3
    assert metrics.registry.get_sample_value(wait_count, {"priority": "urgent"}) == 1
    assert metrics.registry.get_sample_value("cce_bot_budget_waiting") == 0


async def test_no_one_second_window_sees_more_than_the_budget_plus_one_burst(
    sim: RunningSimulator, clients: Callable[..., CCEClient]
) -> None:
    rate, burst, total = 40.0, 10, 90
    client = clients(Budget(rate, burst=burst))
    project = ProjectRef(sim.project_id, sim.url)
    prod = ClusterRef(sim.project_id, PROD, sim.url)
    started = asyncio.get_running_loop().time()
    reads = [
        client.list_clusters(project, background=i % 3 == 0)
        if i % 2
        else client.show_workflow(prod, WF_FAILED, background=i % 3 == 1)
        for i in range(total)
    ]
    assert all(not isinstance(r, Exception) for r in await gather(*reads))
    elapsed = asyncio.get_running_loop().time() - started

    stamps = sorted(c.at for c in sim.world.calls)
    assert len(stamps) == total
    busiest = max(sum(1 for t in stamps if s <= t < s + 1.0) for s in stamps)
    assert busiest <= rate + burst + 1  # +1: a token that falls due on the window's edge
    assert elapsed >= (total - burst) / rate * 0.9  # it did hold them back


async def test_a_429_slows_every_caller_of_that_endpoint_and_no_other(
    sim: RunningSimulator, clients: Callable[..., CCEClient]
) -> None:
    statuses: list[int | None] = []
    client = clients(Budget(100), observer=lambda op, status, s: statuses.append(status))
    async with running_simulator() as elsewhere:
        sim.faults.fail_next(429, retry_after=0.5)
        first = asyncio.ensure_future(
            client.show_workflow(ClusterRef(sim.project_id, PROD, sim.url), WF_FAILED)
        )
        await until(lambda: statuses == [429])  # the first caller has its answer
        throttled_at = sim.world.calls[0].at
        # Another caller, same endpoint: held back until the Retry-After has passed.
        await client.list_clusters(ProjectRef(sim.project_id, sim.url), background=True)
        # Another endpoint is not throttled (checked after, so it is not just fast).
        await client.list_clusters(ProjectRef(elsewhere.project_id, elsewhere.url))
        await first
        [other_at] = [c.at for c in elsewhere.world.calls]
    later = [c.at for c in sim.world.calls[1:]]
    assert len(later) == 2  # the other caller's list, and the first caller's retry
    assert all(at - throttled_at >= 0.45 for at in later)
    assert other_at - throttled_at >= 0.45  # it waited behind our own awaits, not the 429


async def test_another_endpoint_goes_on_while_one_is_throttled(
    sim: RunningSimulator, clients: Callable[..., CCEClient]
) -> None:
    client = clients(Budget(100))
    async with running_simulator() as elsewhere:
        sim.faults.fail_next(429, retry_after=1.0)
        first = asyncio.ensure_future(
            client.show_workflow(ClusterRef(sim.project_id, PROD, sim.url), WF_FAILED)
        )
        await until(lambda: len(sim.world.calls) == 1)
        throttled_at = sim.world.calls[0].at
        await client.list_clusters(ProjectRef(elsewhere.project_id, elsewhere.url))
        assert elsewhere.world.calls[0].at - throttled_at < 0.5
        await first


async def test_retries_of_a_read_stay_bounded_under_endless_429s(
    sim: RunningSimulator, clients: Callable[..., CCEClient]
) -> None:
    client = clients(Budget(100), RetryPolicy(attempts=3, wait_initial=0.01, wait_jitter=0.0))
    sim.faults.rate_limit_rate, sim.faults.retry_after = 1.0, 0.05
    with pytest.raises(CCERateLimited):
        await client.list_clusters(ProjectRef(sim.project_id, sim.url))
    assert len(sim.world.calls) == 3


async def test_a_retry_after_longer_than_the_longest_wait_refuses_at_once(
    sim: RunningSimulator, clients: Callable[..., CCEClient]
) -> None:
    client = clients(Budget(100, max_wait=1.0), RetryPolicy(max_retry_after=1.0, wait_initial=0.01))
    sim.faults.fail_next(429, retry_after=20)
    prod = ClusterRef(sim.project_id, PROD, sim.url)
    with pytest.raises(CCERateLimited):
        await client.show_workflow(prod, WF_FAILED)
    started = asyncio.get_running_loop().time()
    with pytest.raises(CCEThrottled, match="429"):
        await client.cancel_workflow(prod, WF_FAILED)
    assert asyncio.get_running_loop().time() - started < 0.5
    assert [c.method for c in sim.world.calls] == ["GET"]  # the cancel was not sent
    assert sim.world.phase(WF_FAILED) == "Pending"


async def test_a_wait_longer_than_allowed_gives_up_without_sending(
    sim: RunningSimulator, clients: Callable[..., CCEClient]
) -> None:
    budget = Budget(5, burst=1, max_wait=0.3)
    client = clients(budget)
    project = ProjectRef(sim.project_id, sim.url)
    results = await gather(*(client.list_clusters(project, background=True) for _ in range(6)))
    throttled = [r for r in results if isinstance(r, CCEThrottled)]
    # One at once, then one every 0.2 s: one more within 0.3 s, the other four give up.
    assert len(throttled) == 4
    assert "budget" in str(throttled[0])
    assert len(sim.world.calls) == 2
    assert budget.waiting == 0


async def test_a_probe_reports_the_http_latency_not_the_budget_wait(
    sim: RunningSimulator, clients: Callable[..., CCEClient]
) -> None:
    client = clients(Budget(2, burst=1))
    project = ProjectRef(sim.project_id, sim.url)
    await client.probe(project)  # spends the one token
    started = asyncio.get_running_loop().time()
    probe = await client.probe(project)
    assert asyncio.get_running_loop().time() - started >= 0.45  # it waited for the budget
    assert probe.latency_s < 0.4
