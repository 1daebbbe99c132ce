"""The running app against the simulator over HTTPS (SPEC §6): the whole happy path with
`cce.ca_bundle`, and a clear answer, no crash and no cancel when the certificate is not trusted.

The simulator serves `--tls` with a CA made at start (`RunningSimulator.ca_path`) and checks
AK/SK signatures, so every request the bot makes is signed and sent over TLS.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.simulator import RunningSimulator, default_world, running_simulator
from bot.standin.stack import Stack, running_stack, stack_config
from tests.e2e import (
    CHANNEL,
    LEAD1,
    WF_FAILED,
    FakeClock,
    approval_id_of,
    bot_yaml,
    buttons,
    eventually,
    requests_posted,
    text_of,
)

AK, SK = "AKHTTPS", "SKHTTPS"  # the simulator's credentials; the bot signs with them
NEVER = 1e9  # scripted steps fire only when the test advances them


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    world = default_world(step_seconds=NEVER)
    async with running_simulator(world, credentials={AK: SK}, tls=True) as running:
        assert running.url.startswith("https://") and running.ca_path is not None
        yield running


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 12, 1, 8, 0, tzinfo=UTC))


def yaml_for(sim: RunningSimulator, *, trusted: bool) -> dict[str, Any]:
    return bot_yaml(cce={"ca_bundle": str(sim.ca_path)} if trusted else {})


def signed() -> dict[str, Any]:
    return {"cloud_sdk_ak": AK, "cloud_sdk_sk": SK, "cce_auth_token": None}


async def command(stack: Stack, text: str) -> str:
    """Type a command; the requester's last answer."""
    _, name = await stack.command(text)
    await stack.slack.wait_for("response_url", predicate=lambda c: c.params["_name"] == name)
    return str(stack.responses(name)[-1]["text"])


async def test_the_whole_happy_path_over_https_with_the_ca_bundle(
    sim: RunningSimulator, sqlite_url: str, clock: FakeClock
) -> None:
    yaml = yaml_for(sim, trusted=True)
    async with running_stack(sim, sqlite_url, yaml, clock=clock, **signed()) as stack:
        assert "Pending" in await command(stack, f"status prod-eu {WF_FAILED}")
        await command(stack, f"cancel prod-eu {WF_FAILED} node pool stuck")
        [message] = requests_posted(stack.slack)
        await stack.click(approval_id_of(message), user=LEAD1, message_ts=message.ts)
        await stack.slack.wait_for("chat.postMessage", count=2)  # the request, "Cancelled"

        async def watching() -> bool:  # the follow-up opens the watch after the reply
            return await stack.bot.store.watches.count_open() == 1

        await eventually(watching)
        [patch] = [c for c in sim.world.calls if c.method == "PATCH"]
        assert json.loads(patch.body) == {"status": {"phase": "Cancel"}}
        assert patch.headers["Authorization"].startswith("SDK-HMAC-SHA256 Access=AKHTTPS")
        assert sim.world.phase(WF_FAILED) == "Cancel"

        sim.world.advance(WF_FAILED, 2)  # the Rollback runs, then succeeds
        for _ in range(5):
            clock.advance(timedelta(seconds=2))
            await stack.bot.watcher.tick()
        thread = [m.text for m in stack.slack.thread(CHANNEL, message.ts)]
        assert "Cancelled" in thread[0]
        assert "settled in phase *Cancel*" in thread[-1]
        assert await stack.bot.store.watches.count_open() == 0
        assert [] == buttons(stack.slack.message(CHANNEL, message.ts))
    # Every read and the cancel over a handful of kept-alive connections, not one per request.
    assert len({c.peer for c in sim.world.calls}) < len(sim.world.calls) / 2


async def test_an_untrusted_certificate_gets_a_clear_answer_and_sends_nothing(
    sim: RunningSimulator, sqlite_url: str
) -> None:
    """The system trust store does not know the simulator's CA: every command says so."""
    yaml = yaml_for(sim, trusted=False)
    async with running_stack(sim, sqlite_url, yaml, **signed()) as stack:
        for text in (f"status prod-eu {WF_FAILED}", f"cancel prod-eu {WF_FAILED} stuck"):
            answer = await command(stack, text)
            assert "certificate is not trusted" in answer and "cce.ca_bundle" in answer, answer
        assert requests_posted(stack.slack) == []
        assert stack.server is not None  # still serving: nothing crashed
        assert (await stack.http.get(stack.server.ops_url + "/healthz")).status_code == 200
    assert sim.world.calls == []  # the handshake failed: not one request reached the API
    assert sim.world.phase(WF_FAILED) == "Pending"


async def test_an_approval_while_the_certificate_is_untrusted_sends_no_cancel(
    sim: RunningSimulator, sqlite_url: str
) -> None:
    """Trusted when the request is opened, untrusted (the bundle removed, restarted) when a lead
    approves: the re-read fails, the request fails saying why, and no PATCH is sent."""
    async with running_stack(sim, sqlite_url, yaml_for(sim, trusted=True), **signed()) as stack:
        await command(stack, f"cancel prod-eu {WF_FAILED} stuck")
        [message] = requests_posted(stack.slack)
        stack.config = stack_config(
            sim, stack.slack, sqlite_url, yaml_for(sim, trusted=False), **signed()
        )
        await stack.restart_bot()
        await stack.click(approval_id_of(message), user=LEAD1, message_ts=message.ts)

        async def failed() -> bool:
            return "no cancel was sent" in text_of(stack.slack.message(CHANNEL, message.ts))

        await eventually(failed)
        shown = text_of(stack.slack.message(CHANNEL, message.ts))
        assert "certificate is not trusted" in shown
        assert [] == buttons(stack.slack.message(CHANNEL, message.ts))
    assert [c for c in sim.world.calls if c.method == "PATCH"] == []
    assert sim.world.phase(WF_FAILED) == "Pending"
