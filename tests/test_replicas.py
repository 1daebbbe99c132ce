"""Two bot processes on one database (in one test process: two apps, two engines, two owners):
work is never taken from a live owner, and when two do race, the schema lets one win.

Real clock here: leases are renewed by the owner's own timer, which a fake clock cannot drive.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from bot.simulator import Fault, Faults, RunningSimulator, World, build_world, default_scenario
from bot.simulator import running_simulator as serve_simulator
from bot.standin import FakeSlack
from bot.standin.stack import SIM_TOKEN, Stack, running_stack
from bot.store.tables import ApprovalRow
from tests.e2e import CHANNEL, LEAD1, WF_FAILED, approval_id_of, bot_yaml, requests_posted

LEASE = "3s"  # the shortest lease the config allows: a slow cancel outlasts it twice over
SLOW = 7.0  # seconds the API holds the cancel's answer


class SlowPatch(Faults):
    """The API applies the cancel, then holds its answer for `SLOW` seconds."""

    def __init__(self, world: World) -> None:
        super().__init__(hang_seconds=SLOW)
        self.world = world

    def take(self) -> Fault | None:
        if self.world.calls and self.world.calls[-1].method == "PATCH":
            return Fault("hold")
        return super().take()


@contextlib.asynccontextmanager
async def two_replicas(
    sim: RunningSimulator, url: str, **yaml: Any
) -> AsyncIterator[tuple[Stack, Stack]]:
    """Two bots with their scheduler on, sharing the database, Slack and the API."""
    config = bot_yaml(recovery={"lease": LEASE, "give_up_after": "1h"}, **yaml)
    async with (
        FakeSlack() as slack,
        running_stack(sim, url, config, scheduler=True, slack=slack) as first,
        running_stack(sim, url, config, scheduler=True, slack=slack) as second,
    ):
        yield first, second


async def _request(stack: Stack) -> tuple[str, str]:
    _, name = await stack.command(f"cancel prod-eu {WF_FAILED} oom")
    await stack.slack.wait_for("response_url", predicate=lambda c: c.params["_name"] == name)
    [message] = requests_posted(stack.slack)
    return approval_id_of(message), message.ts


def _thread(stack: Stack, ts: str) -> list[str]:
    return [m.text for m in stack.slack.thread(CHANNEL, ts)]


async def _until(check: Any, within: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(0.05)


async def test_a_cancel_slower_than_the_lease_is_never_settled_underneath_its_owner(
    db_url: str,
) -> None:
    """The API takes 7 s to answer the cancel (over two leases); the other replica's recovery
    runs all along and must not settle it: the success is kept, one cancel, one reply."""
    world = build_world(default_scenario())
    async with (
        serve_simulator(world, token=SIM_TOKEN, faults=SlowPatch(world)) as sim,
        two_replicas(sim, db_url) as (first, second),
    ):
        approval_id, ts = await _request(first)
        await first.click(approval_id, user=LEAD1, message_ts=ts)

        async def ended() -> bool:
            rec = await second.bot.store.requests.get(approval_id)
            return rec is not None and rec.state in ("cancelled", "failed") and not rec.work

        await _until(ended, within=SLOW + 10)
        rec = await second.bot.store.requests.get(approval_id)
        assert rec is not None and rec.state == "cancelled"
        audit = [r.action for r in await second.bot.store.audit.read(approval_id=approval_id)]
        assert "cancel.failed" not in audit and 1 == audit.count("cancel.accepted")
        assert 1 == sum(1 for c in world.calls if c.method == "PATCH")
        assert 1 == sum("Cancelled" in t for t in _thread(first, ts))
        assert "not sent again" not in "".join(_thread(first, ts))


async def test_a_live_path_and_a_recovery_racing_open_one_watch_and_reply_once(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The first replica is following up an accepted cancel (Slack holds its "Cancelled"
    reply); its lease is made to lapse as if it had stalled, and the second replica's recovery
    takes the same work. Between them: one outcome reply, one watch."""
    world = build_world(default_scenario())
    async with (
        serve_simulator(world, token=SIM_TOKEN) as sim,
        two_replicas(sim, db_url) as (first, second),
    ):
        slack = first.slack
        approval_id, ts = await _request(first)

        def held(method: str, params: dict[str, Any]) -> float:
            key = str(((params.get("metadata") or {}).get("event_payload") or {}).get("key"))
            return 2.0 if method == "chat.postMessage" and key.endswith(":outcome") else 0.0

        slack.hold_answer = held
        await first.click(approval_id, user=LEAD1, message_ts=ts)
        await slack.wait_for("chat.postMessage", count=2, timeout=10)  # the held reply
        async with first.bot.store.engine.begin() as conn:  # the first one stalls
            await conn.execute(
                update(ApprovalRow)
                .where(ApprovalRow.approval_id == approval_id)
                .values(lease_until=first.clock() - timedelta(seconds=1))
            )

        async def followed_up() -> bool:
            rec = await second.bot.store.requests.get(approval_id)
            return rec is not None and rec.work is None and rec.state == "cancelled"

        await _until(followed_up, within=20)
        await asyncio.sleep(1.0)  # both replicas' next runs: nothing more
        assert 1 == await second.bot.store.watches.count_open()
        assert 1 == sum("Cancelled" in t for t in _thread(first, ts))
        assert 1 == sum(1 for c in world.calls if c.method == "PATCH")
        assert any(r.message == "recovery.took_over" for r in caplog.records)  # it raced
