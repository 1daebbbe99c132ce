"""Adaptive cadence in the running app (SPEC §5): a watch on a workflow with a task running is
read every `watch.fast_interval`, one with nothing running every `watch.interval`, and it
switches both ways on the poll that sees the change.

The reads are counted where they land, at the simulator (`sim.world.calls`), against the bot's
injected clock, moved one second per watcher tick: no sleeps, no scheduler.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.simulator import RunningSimulator, default_world, running_simulator
from bot.standin.stack import SIM_TOKEN, Stack, running_stack
from tests.e2e import (
    CHANNEL,
    PROD,
    STAGING,
    WF_FAILED,
    WF_RUNNING,
    FakeClock,
    bot_yaml,
    cancel_failed_workflow,
)

NEVER = 1e9  # the simulator's scripted steps never fire on their own; the test advances them
WATCH = {"interval": "10s", "fast_interval": "2s"}


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    async with running_simulator(default_world(step_seconds=NEVER), token=SIM_TOKEN) as running:
        yield running


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 12, 1, 8, 0, tzinfo=UTC))


@pytest.fixture
async def stack(sim: RunningSimulator, db_url: str, clock: FakeClock) -> AsyncIterator[Stack]:
    async with running_stack(sim, db_url, bot_yaml(watch=WATCH), clock=clock) as running:
        yield running


class Reads:
    """When (bot-clock seconds since the watch started) the simulator was asked for the
    workflow, by a show call or its cluster's list."""

    def __init__(self, stack: Stack, clock: FakeClock, cluster_id: str = STAGING) -> None:
        self._stack = stack
        self._path = f"/clusters/{cluster_id}/operation/upgradeworkflows"
        self._clock = clock
        self._start = clock()
        self._seen = len(stack.sim.world.calls)
        self.at: list[int] = []

    async def run(self, seconds: int) -> list[int]:
        """Tick once per bot-clock second for `seconds`; the times of the reads in that span."""
        first = len(self.at)
        for _ in range(seconds):
            self._clock.advance(timedelta(seconds=1))
            await self._stack.bot.watcher.tick()
            calls = self._stack.sim.world.calls[self._seen :]
            self._seen += len(calls)
            now = int((self._clock() - self._start).total_seconds())
            self.at += [now for c in calls if c.method == "GET" and self._path in c.path]
        return self.at[first:]


def gaps(times: list[int]) -> list[int]:
    return [b - a for a, b in itertools.pairwise(times)]


async def test_cadence_is_fast_while_a_task_runs_slow_when_none_does_and_fast_again(
    stack: Stack, clock: FakeClock
) -> None:
    _, name = await stack.command(f"watch staging-eu {WF_RUNNING}")  # Snapshot is Running
    await stack.slack.wait_for("response_url", predicate=lambda c: c.params["_name"] == name)
    [root] = [m for m in stack.slack.messages.values() if m.thread_ts is None]
    reads = Reads(stack, clock)

    running = await reads.run(20)
    assert gaps(running) == [2] * 9 and running[0] <= 2  # every fast_interval

    stack.sim.world.advance(WF_RUNNING)  # Snapshot → Success: no task runs now
    idle = await reads.run(45)
    assert idle[0] - running[-1] == 2  # the next fast poll sees it, and posts it
    assert "*Snapshot*: Running → *Success*" in stack.slack.thread(CHANNEL, root.ts)[-1].text
    assert gaps(idle) == [10] * 4  # then every interval

    stack.sim.world.advance(WF_RUNNING)  # Cluster → Running
    again = await reads.run(20)
    assert again[0] - idle[-1] == 10  # the slow poll sees it (that is the interval's cost) ...
    assert "*Cluster*: not started → *Running*" in stack.slack.thread(CHANNEL, root.ts)[-1].text
    assert gaps(again) == [2] * (len(again) - 1) and len(again) >= 5  # ... then fast again


async def test_a_cancelled_workflow_is_read_fast_while_its_rollback_is_expected(
    stack: Stack, clock: FakeClock
) -> None:
    """Phase Cancel with a listed Rollback not started: nothing runs, yet the cadence is fast."""
    await cancel_failed_workflow(stack)
    assert stack.sim.world.phase(WF_FAILED) == "Cancel"
    reads = Reads(stack, clock, PROD)
    assert gaps(await reads.run(20)) == [2] * 9
    stack.sim.world.advance(WF_FAILED, 2)  # the Rollback runs and succeeds: settled
    await reads.run(4)
    assert await stack.bot.store.watches.count_open() == 0
