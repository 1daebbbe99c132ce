"""Socket Mode end to end: the bot connects to the fake Slack's WebSocket the way `serve.py` does,
envelopes come in over the socket, acks go back over it, everything else is the same flow."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

from bot.app import BotApp, create_app
from bot.simulator import RunningSimulator
from bot.slack.blocks import APPROVE_ACTION_ID, REJECT_ACTION_ID
from bot.slack.modal import (
    CLUSTER_ACTION_ID,
    CLUSTER_BLOCK_ID,
    REASON_ACTION_ID,
    REASON_BLOCK_ID,
    WORKFLOW_ACTION_ID,
    WORKFLOW_BLOCK_ID,
)
from bot.standin.slack_api import FakeSlack, Message, block_actions_payload, slash_command_payload
from bot.standin.stack import FAST_RETRY, stack_config
from bot.standin.view_requests import (
    block_suggestion_payload,
    view_block_actions_payload,
    view_submission_payload,
)
from tests.e2e import (
    CHANNEL,
    GROUP_LEAD,
    LEAD1,
    OUTSIDER,
    PROD,
    REQUESTER,
    WF_FAILED,
    approval_id_of,
    bot_yaml,
    buttons,
    eventually,
    requests_posted,
)

APP_TOKEN = "xapp-standin"


@dataclass
class SocketStack:
    sim: RunningSimulator
    slack: FakeSlack
    bot: BotApp
    handler: AsyncSocketModeHandler
    _n: itertools.count[int] = field(default_factory=itertools.count)

    async def command(self, text: str, *, user: str = REQUESTER) -> tuple[str, str]:
        """Type `/cce-upgrade <text>`; returns the envelope id and the response_url's name."""
        name = f"cmd-{next(self._n)}"
        payload = slash_command_payload(
            text, user_id=user, channel_id=CHANNEL, response_url=self.slack.response_url(name)
        )
        return await self.slack.socket_send("slash_commands", payload), name

    async def click(self, message: Message, *, user: str, approve: bool = True) -> tuple[str, str]:
        name = f"act-{next(self._n)}"
        payload = block_actions_payload(
            action_id=APPROVE_ACTION_ID if approve else REJECT_ACTION_ID,
            value=approval_id_of(message),
            user_id=user,
            channel_id=CHANNEL,
            message_ts=message.ts,
            response_url=self.slack.response_url(name),
            message=message.as_payload(),
        )
        return await self.slack.socket_send("interactive", payload), name

    def responses(self, name: str) -> list[dict[str, Any]]:
        return [r for r in self.slack.responses if r.get("_name") == name]


@pytest.fixture
async def stack(sim: RunningSimulator, sqlite_url: str) -> AsyncIterator[SocketStack]:
    async with FakeSlack() as slack:
        slack.usergroups = {"S0SRELEADS": [GROUP_LEAD]}
        # Socket Mode: an app-level token and no signing secret, as `serve.py` runs it.
        config = stack_config(
            sim,
            slack,
            sqlite_url,
            bot_yaml(),
            slack_app_token=APP_TOKEN,
            slack_signing_secret=None,
        )
        assert config.settings.slack_signing_secret is None
        bot = create_app(config, retry=FAST_RETRY)
        await bot.start(scheduler=False)
        handler = AsyncSocketModeHandler(bot.bolt, APP_TOKEN)
        try:
            await handler.connect_async()  # type: ignore[no-untyped-call]
            await slack.wait_for_socket_client()
            yield SocketStack(sim, slack, bot, handler)
        finally:
            await handler.close_async()  # type: ignore[no-untyped-call]
            await asyncio.sleep(0)  # let the cancelled receiver/monitor tasks finish
            await bot.stop()


def patches(sim: RunningSimulator) -> list[Any]:
    return [c for c in sim.world.calls if c.method == "PATCH"]


async def open_request(stack: SocketStack) -> Message:
    envelope_id, name = await stack.command(f"cancel prod-eu {WF_FAILED} disk pressure")
    ack = await stack.slack.wait_for_socket_ack(envelope_id)
    assert envelope_id == ack["envelope_id"]
    assert "Working on `prod-eu`" in ack["payload"]["text"]
    await stack.slack.wait_for("response_url", predicate=lambda c: c.params["_name"] == name)
    [message] = requests_posted(stack.slack)
    assert [APPROVE_ACTION_ID, REJECT_ACTION_ID] == buttons(message)
    return message


async def test_connects_with_the_app_token(stack: SocketStack) -> None:
    """apps.connections.open is called with the xapp- token on the bot's base_url; hello arrives."""
    [opened] = stack.slack.calls_to("apps.connections.open")
    assert f"Bearer {APP_TOKEN}" == opened.headers["Authorization"]
    assert 1 == stack.slack.socket_clients
    assert await stack.handler.client.is_connected()


async def test_command_then_approve_over_the_socket(stack: SocketStack) -> None:
    """Command envelope → ack with text → request posted; Approve click → one PATCH + reply."""
    message = await open_request(stack)
    [posted] = stack.slack.calls_to("chat.postMessage")
    assert CHANNEL == posted.params["channel"]

    envelope_id, _ = await stack.click(message, user=LEAD1)
    ack = await stack.slack.wait_for_socket_ack(envelope_id)
    assert {"envelope_id": envelope_id} == ack  # block_actions: an empty ack
    await stack.slack.wait_for("chat.postMessage", count=2)  # request + thread reply

    [patch] = patches(stack.sim)
    assert patch.path.endswith(f"/operation/upgradeworkflows/{WF_FAILED}")
    assert {"status": {"phase": "Cancel"}} == json.loads(patch.body)
    final = stack.slack.message(CHANNEL, message.ts)
    assert [] == buttons(final)
    [reply] = stack.slack.thread(CHANNEL, message.ts)
    assert "Cancel" in reply.text


async def test_outsider_click_is_refused_over_response_url(stack: SocketStack) -> None:
    """A non-approver's click is acked, refused ephemerally via response_url, no PATCH."""
    message = await open_request(stack)
    envelope_id, name = await stack.click(message, user=OUTSIDER)
    await stack.slack.wait_for_socket_ack(envelope_id)
    await stack.slack.wait_for("response_url", predicate=lambda c: c.params["_name"] == name)
    [refusal] = stack.responses(name)
    assert "not an approver" in refusal["text"]
    assert "ephemeral" == refusal["response_type"]
    assert [] == patches(stack.sim)
    assert buttons(stack.slack.message(CHANNEL, message.ts))


async def test_connections_open_refuses_a_bot_token() -> None:
    """Only an app-level token may open a Socket Mode connection."""
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web.async_client import AsyncWebClient

    async with FakeSlack() as slack:
        client = AsyncWebClient(base_url=slack.api_url)
        with pytest.raises(SlackApiError) as raised:
            await client.apps_connections_open(app_token="xoxb-not-an-app-token")
        assert "not_allowed_token_type" == raised.value.response["error"]
        opened = await client.apps_connections_open(app_token=APP_TOKEN)
        assert str(opened["url"]).startswith("ws://127.0.0.1:")


async def test_serve_forever_runs_socket_mode(sim: RunningSimulator, sqlite_url: str) -> None:
    """`serve_forever` (what `cce-upgrade-bot run` calls) connects, serves, shuts down."""
    from bot.serve import serve_forever

    async with FakeSlack() as slack:
        config = stack_config(
            sim,
            slack,
            sqlite_url,
            bot_yaml(),
            slack_app_token=APP_TOKEN,
            slack_signing_secret=None,
            port=0,
            ops_port=0,
        )
        serving = asyncio.create_task(serve_forever(config, host="127.0.0.1"))
        try:
            name = "cmd-serve"
            payload = slash_command_payload(
                f"cancel prod-eu {WF_FAILED} disk pressure",
                response_url=slack.response_url(name),
            )
            envelope_id = await slack.socket_send("slash_commands", payload)
            ack = await slack.wait_for_socket_ack(envelope_id)
            assert "Working on" in ack["payload"]["text"]
            await slack.wait_for("response_url", predicate=lambda c: c.params["_name"] == name)
            assert 1 == len(requests_posted(slack))
        finally:
            serving.cancel()  # its `finally` closes the socket, the HTTP server and the bot
            with pytest.raises(asyncio.CancelledError):
                await serving

        async def disconnected() -> bool:
            return slack.socket_clients == 0

        await eventually(disconnected)


async def test_the_cancel_modal_over_the_socket(stack: SocketStack) -> None:
    """The same modal in Socket Mode: opened with the command's trigger, options and the
    submission's answer in the acks, the workflow select filled after a cluster is chosen."""
    slack = stack.slack
    payload = slash_command_payload(
        "",
        user_id=REQUESTER,
        channel_id=CHANNEL,
        response_url=slack.response_url("modal"),
        trigger_id=slack.new_trigger_id(REQUESTER),
    )
    envelope_id = await slack.socket_send("slash_commands", payload)
    await slack.wait_for_socket_ack(envelope_id)
    [opened] = await slack.wait_for("views.open")
    assert opened.ok, opened.error
    [record] = [v for v in slack.views.values() if v.type == "modal"]

    suggestion = block_suggestion_payload(
        view=slack.fill_view(record.id),
        action_id=CLUSTER_ACTION_ID,
        block_id=CLUSTER_BLOCK_ID,
        value="prod",
        user_id=REQUESTER,
    )
    ack = await slack.wait_for_socket_ack(await slack.socket_send("interactive", suggestion))
    [option] = ack["payload"]["options"]
    assert "prod-eu" == option["value"]  # the alias from bot_yaml()
    assert PROD[:8] in option["text"]["text"]

    chosen = view_block_actions_payload(
        view=slack.fill_view(record.id, {CLUSTER_BLOCK_ID: {CLUSTER_ACTION_ID: option}}),
        action_id=CLUSTER_ACTION_ID,
        block_id=CLUSTER_BLOCK_ID,
        value=option,
        user_id=REQUESTER,
    )
    await slack.wait_for_socket_ack(await slack.socket_send("interactive", chosen))
    await slack.wait_for("views.update")
    block = f"{WORKFLOW_BLOCK_ID}:prod-eu"
    assert [WF_FAILED] == [
        o["value"]
        for b in slack.view(record.id).view["blocks"]
        if b.get("block_id") == block
        for o in b["element"]["options"]
    ]

    async def submit(reason: str) -> dict[str, Any]:
        entered = {
            REASON_BLOCK_ID: {REASON_ACTION_ID: reason},
            block: {WORKFLOW_ACTION_ID: WF_FAILED},
        }
        submission = view_submission_payload(
            view=slack.fill_view(record.id, entered), user_id=REQUESTER
        )
        return await slack.wait_for_socket_ack(await slack.socket_send("interactive", submission))

    refused = await submit("  ")
    assert "errors" == refused["payload"]["response_action"]
    assert [REASON_BLOCK_ID] == list(refused["payload"]["errors"])
    assert [] == requests_posted(slack)
    accepted = await submit("node pool stuck")
    assert not accepted.get("payload")  # an empty answer closes the form
    [message] = requests_posted(slack)
    assert CHANNEL == message.channel and WF_FAILED in message.text
