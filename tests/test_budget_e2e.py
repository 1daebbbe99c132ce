"""The request budget in the running app (SPEC §6): watches that want far more than the budget,
a burst of `status` commands served first, the API never seeing more than the budget over any
second (plus one burst), and a 429 holding back every caller of the endpoint.

The bot runs with its scheduler, on real time: 80 watches, each on a cluster of its own with a
task running, want a read every 2 s (40/s) against a budget of 20/s, so polls always queue. The
simulator stamps each request as it arrives (`Call.at`), so rates are what the API saw.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from bot.simulator import RunningSimulator, default_world, running_simulator
from bot.standin.stack import SIM_TOKEN, Stack, running_stack, stack_config
from tests.e2e import WF_FAILED, bot_yaml, eventually

WATCHES = 80
RATE, BURST = 20, 5  # cce.max_requests_per_second, and the budget's burst (a quarter of it)
COMMANDS = 50
NEVER = 1e9
IN_FLIGHT = 0.1  # seconds after the 429 arrived during which its answer may still be in flight


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    world = default_world(step_seconds=NEVER)
    for _ in range(WATCHES):
        cluster = world.add_cluster(str(uuid.uuid4()))
        world.add_running_workflows(cluster, 1)
    async with running_simulator(world, token=SIM_TOKEN) as running:
        yield running


def watched(sim: RunningSimulator) -> list[tuple[str, str]]:
    """(cluster_id, workflow_id) of the clusters added above."""
    return [
        (cluster_id, workflow_id)
        for _, cluster_id, name, _ in sim.world.clusters()
        if not name
        for workflow_id in sim.world.workflow_ids(cluster_id)
    ]


async def answered(stack: Stack, name: str) -> float:
    """When (time.time) the bot answered a command's response_url."""
    [call] = await stack.slack.wait_for(
        "response_url", predicate=lambda c: c.params["_name"] == name, timeout=30
    )
    return call.at


@pytest.fixture
async def stack(sim: RunningSimulator, tmp_path: Path) -> AsyncIterator[Stack]:
    """The bot polling every watch above, with its scheduler, on a budget of 20 requests/s.

    The watches are opened with `/cce-upgrade watch` by a bot with a large budget (opening 80 at
    20/s would take 4 s), which is then restarted on the budget under test.
    """
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    watch = {"interval": "10s", "fast_interval": "2s"}
    wide = bot_yaml(watch=watch, cce={"max_requests_per_second": 1000})
    async with running_stack(sim, url, wide) as running:
        names = [(await running.command(f"watch {c} {w}"))[1] for c, w in watched(sim)]
        await asyncio.gather(*(answered(running, name) for name in names))
        assert await running.bot.store.watches.count_open() == WATCHES
        running.config = stack_config(
            sim, running.slack, url, bot_yaml(watch=watch, cce={"max_requests_per_second": RATE})
        )
        running.scheduler = True
        await running.restart_bot()
        yield running


def polls_queue(stack: Stack) -> Callable[[], Awaitable[bool]]:
    """A check: the polls have filled the budget and at least ten wait for it."""

    async def check() -> bool:
        waiting = stack.bot.metrics.registry.get_sample_value("cce_bot_budget_waiting")
        return (waiting or 0) >= 10

    return check


def busiest_second(stamps: list[float]) -> int:
    """The most requests the API saw within any one-second window."""
    stamps = sorted(stamps)
    return max(sum(1 for t in stamps if s <= t < s + 1.0) for s in stamps)


async def test_a_burst_of_commands_is_served_first_within_the_budget(
    stack: Stack, sim: RunningSimulator
) -> None:
    calls0 = len(sim.world.calls)
    await eventually(polls_queue(stack))

    sent = time.time()
    mono_sent = time.monotonic()
    names = await asyncio.gather(
        *(stack.command(f"status prod-eu {WF_FAILED}") for _ in range(COMMANDS))
    )
    done = await asyncio.gather(*(answered(stack, name) for _, name in names))
    for _, name in names:
        assert "Pending" in str(stack.responses(name)[-1]["text"])  # the status, not an error
    last = max(c.at for c in sim.world.calls if c.path.endswith(WF_FAILED))

    async def a_second_later() -> bool:  # the polls take the budget back
        return sim.world.calls[-1].at - last >= 1.0

    await eventually(a_second_later)

    calls = sim.world.calls[calls0:]
    assert busiest_second([c.at for c in calls]) <= RATE + BURST + 1  # +1: a window's edge
    # Commands first: while they were being answered the polls got almost none of the budget.
    mine = [c.at for c in calls if c.path.endswith(WF_FAILED)]
    assert len(mine) == COMMANDS
    during = [c for c in calls if mine[0] <= c.at <= mine[-1]]
    polls = len(during) - COMMANDS
    assert polls <= 3, f"{polls} poll reads went out during the burst"  # 0 measured
    # 50 reads at 20/s after a burst of 5 take 2.25 s at least; bench/budget_burst.py measures
    # the 3 s target, and this bound only guards against the commands starving.
    assert max(done) - sent < 6.0
    assert mine[-1] - mono_sent >= (COMMANDS - BURST) / RATE * 0.9  # they were held back


async def test_a_429_holds_back_every_caller_of_the_endpoint(
    stack: Stack, sim: RunningSimulator
) -> None:
    await eventually(polls_queue(stack))
    calls0 = len(sim.world.calls)
    sim.faults.fail_next(429, retry_after=1.0)  # the next request the API gets

    async def arrived() -> bool:
        return len(sim.world.calls) > calls0

    await eventually(arrived)
    limited_at = sim.world.calls[calls0].at
    _, name = await stack.command(f"status prod-eu {WF_FAILED}")  # a command, during the pause
    await answered(stack, name)
    assert "Pending" in str(stack.responses(name)[-1]["text"])  # held back, then served
    later = sim.world.calls[calls0 + 1 :]
    assert any(c.path.endswith(WF_FAILED) for c in later)
    # Reads granted before the 429's answer was back may still land right after it (the polls
    # queue, so a few go out together); after that nobody (the polls, the throttled read's
    # retry, the command) is sent before the Retry-After has passed.
    in_flight = [c for c in later if c.at - limited_at < IN_FLIGHT]
    assert len(in_flight) <= BURST
    assert min(c.at for c in later[len(in_flight) :]) - limited_at >= 0.95


async def test_stopping_while_a_tick_waits_on_the_budget_lets_it_finish(
    stack: Stack, sim: RunningSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    """The scheduler stops taking new runs, the tick in flight finishes its polls, and nothing
    is logged as a failed job (APScheduler's shutdown would cancel the running tick)."""
    await eventually(polls_queue(stack))
    bot = stack.bot
    caplog.set_level(logging.WARNING)
    started = time.monotonic()
    await stack.stop_bot()
    assert time.monotonic() - started < 10.0 + 1.0  # the tick has STOP_GRACE at most
    assert bot.metrics.registry.get_sample_value("cce_bot_budget_waiting") == 0
    failed = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert failed == [], [r.getMessage() for r in failed]
