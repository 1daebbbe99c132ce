"""Approver groups while Slack fails: membership up to 15 minutes old is used, older is not.

End to end over loopback: the Slack stand-in fails `usergroups.users.list`, the bot's clock is
injected and moved forward instead of sleeping, and clicks are signed posts into the bot.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.simulator import RunningSimulator
from bot.standin.slack_api import Message
from bot.standin.stack import Stack, running_stack
from tests.e2e import (
    GROUP_LEAD,
    LEAD1,
    OUTSIDER,
    WF_FAILED,
    FakeClock,
    approval_id_of,
    bot_yaml,
    buttons,
    requests_posted,
)

TRY_AGAIN = "could not check the approver groups with Slack just now; nothing was approved"
GROUPS = "usergroups.users.list"


@dataclass
class World:
    stack: Stack
    clock: FakeClock
    sim: RunningSimulator

    async def open_request(self) -> Message:
        _, name = await self.stack.command(f"cancel prod-eu {WF_FAILED} disk pressure")
        await self.answer(name)
        [message] = requests_posted(self.stack.slack)
        return message

    async def click(self, message: Message, user: str) -> str:
        """`user` clicks Approve; returns the name of the click's response_url."""
        response, name = await self.stack.click(
            approval_id_of(message), user=user, message_ts=message.ts
        )
        assert 200 == response.status_code
        return name

    async def answer(self, name: str) -> str:
        await self.stack.slack.wait_for(
            "response_url", predicate=lambda c: c.params["_name"] == name
        )
        return str(self.stack.responses(name)[-1].get("text", ""))

    def cancels(self) -> list[Any]:
        return [c for c in self.sim.world.calls if c.method == "PATCH"]


@pytest.fixture
async def world(sim: RunningSimulator, sqlite_url: str) -> AsyncIterator[World]:
    clock = FakeClock(datetime(2026, 12, 1, 8, 0, tzinfo=UTC))
    async with running_stack(sim, sqlite_url, bot_yaml(), clock=clock) as stack:
        stack.slack.usergroups = {"S0SRELEADS": [GROUP_LEAD]}
        yield World(stack, clock, sim)


async def test_membership_older_than_15_minutes_is_not_trusted_while_slack_fails(
    world: World,
) -> None:
    """A group member whose membership was last read 16 min ago clicks while Slack fails: they
    are told to try again, nothing is approved and no cancel is sent; once Slack answers again
    (after the 30 s back-off) the same click goes through, once."""
    message = await world.open_request()
    outsider = await world.click(message, OUTSIDER)  # reads the group at 08:00
    assert "not an approver" in await world.answer(outsider)
    assert 1 == len(world.stack.slack.calls_to(GROUPS))

    world.clock.advance(timedelta(minutes=16))
    world.stack.slack.fail_next(GROUPS, error="fatal_error", status=500)
    for _ in range(2):  # the second within the back-off: Slack is not asked again
        told = await world.answer(await world.click(message, GROUP_LEAD))
        assert TRY_AGAIN in told
    assert 2 == len(world.stack.slack.calls_to(GROUPS))
    assert [] == world.cancels()
    assert buttons(world.stack.slack.message(message.channel, message.ts))  # still pending

    world.clock.advance(timedelta(seconds=31))
    await world.click(message, GROUP_LEAD)
    await world.stack.slack.wait_for("chat.postMessage", count=2)  # the request and its outcome
    assert 1 == len(world.cancels())
    assert 3 == len(world.stack.slack.calls_to(GROUPS))


async def test_membership_up_to_15_minutes_old_is_used_while_slack_fails(world: World) -> None:
    """Read 10 min ago (past the 2 min cache), Slack failing now: the known member approves."""
    message = await world.open_request()
    assert "not an approver" in await world.answer(await world.click(message, OUTSIDER))
    world.clock.advance(timedelta(minutes=10))
    world.stack.slack.fail_next(GROUPS, error="ratelimited")
    await world.click(message, GROUP_LEAD)
    await world.stack.slack.wait_for("chat.postMessage", count=2)
    assert 1 == len(world.cancels())
    assert 2 == len(world.stack.slack.calls_to(GROUPS))  # it did ask, and it failed


async def test_users_listed_in_the_config_never_need_slack(world: World) -> None:
    """With Slack's user groups failing and nothing known about them, a configured user still
    approves, and Slack is not asked."""
    world.stack.slack.fail_next(GROUPS, error="fatal_error", count=5, status=503)
    message = await world.open_request()
    await world.click(message, LEAD1)
    await world.stack.slack.wait_for("chat.postMessage", count=2)
    assert 1 == len(world.cancels())
    assert [] == world.stack.slack.calls_to(GROUPS)
