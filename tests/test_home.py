"""The App Home tab (SPEC §10.2): `app_home_opened` publishes what is waiting (with Approve /
Reject for those who may decide, by the channel's rules), the watches running with a link to
each thread, and the last outcomes; a decision made there is the same decision, once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.simulator import RunningSimulator
from bot.slack.blocks import APPROVE_ACTION_ID, REJECT_ACTION_ID
from bot.slack.home import HOME_DECISION_BLOCK_PREFIX
from bot.standin.event_requests import app_home_opened_event, event_callback_body
from bot.standin.slack_api import Message
from bot.standin.stack import Stack, running_stack
from tests.e2e import (
    CHANNEL,
    LEAD1,
    LEAD2,
    OUTSIDER,
    REQUESTER,
    WF_FAILED,
    answered,
    approval_id_of,
    buttons,
    eventually,
    names_yaml,
    requests_posted,
    text_of,
)


@pytest.fixture
async def stack(sim: RunningSimulator, sqlite_url: str) -> AsyncIterator[Stack]:
    async with running_stack(sim, sqlite_url, names_yaml()) as running:
        yield running


async def open_request(stack: Stack, user: str = REQUESTER) -> Message:
    _, name = await stack.command("cancel prod-eu disk pressure", user=user)
    assert "posted" in (await answered(stack, name))["text"]
    return requests_posted(stack.slack)[-1]


async def home_of(stack: Stack, user: str) -> dict[str, Any]:
    """`user` opens the Home tab; returns the view the bot published for them."""
    published = len(stack.slack.calls_to("views.publish"))
    response = await stack.event_home_opened(user)
    assert 200 == response.status_code
    await stack.slack.wait_for("views.publish", count=published + 1)
    home = stack.slack.home(user)
    assert home is not None
    return home


def decisions_shown(home: dict[str, Any]) -> dict[str, list[tuple[str, str]]]:
    """block_id → (action_id, value) of the Approve / Reject buttons on the Home view."""
    return {
        b["block_id"]: [(e["action_id"], e["value"]) for e in b["elements"]]
        for b in home["blocks"]
        if b["type"] == "actions"
    }


def patches(stack: Stack) -> list[Any]:
    return [c for c in stack.sim.world.calls if c.method == "PATCH"]


async def test_an_approver_decides_from_home_and_one_cancel_is_sent(stack: Stack) -> None:
    """The lead's Home shows the request with both buttons; Approve there (clicked twice) sends
    exactly one cancel, updates the channel's message, and the Home tab is published again:
    the outcome, and the watch running with a link to its thread."""
    message = await open_request(stack)
    approval_id = approval_id_of(message)
    home = await home_of(stack, LEAD1)
    block_id = HOME_DECISION_BLOCK_PREFIX + approval_id
    assert {block_id: [(APPROVE_ACTION_ID, approval_id), (REJECT_ACTION_ID, approval_id)]} == (
        decisions_shown(home)
    )
    shown = str(home["blocks"])
    assert WF_FAILED in shown and "disk pressure" in shown and f"<@{REQUESTER}>" in shown

    home_id = home["id"]
    published = len(stack.slack.calls_to("views.publish"))
    for _ in range(2):  # a double click
        response = await stack.select(home_id, APPROVE_ACTION_ID, block_id, approval_id, user=LEAD1)
        assert 200 == response.status_code
    await stack.slack.wait_for("views.publish", count=published + 2)

    async def watching() -> bool:
        return await stack.bot.store.watches.count_open() == 1

    await eventually(watching)
    assert 1 == len(patches(stack))
    assert "Cancel" == stack.sim.world.phase(WF_FAILED)
    assert [] == buttons(stack.slack.message(CHANNEL, message.ts))
    assert "cancelled" in text_of(stack.slack.message(CHANNEL, message.ts)).lower()

    home = await home_of(stack, LEAD1)
    assert {} == decisions_shown(home)
    shown = str(home["blocks"])
    assert "*cancelled* by <@U0LEAD1>" in shown
    link = f"https://acme.slack.com/archives/{CHANNEL}/p{message.ts.replace('.', '')}"
    assert f"<{link}|open the thread>" in shown


async def test_someone_else_sees_no_buttons_and_their_click_changes_nothing(
    stack: Stack,
) -> None:
    message = await open_request(stack)
    approval_id = approval_id_of(message)
    home = await home_of(stack, OUTSIDER)
    assert {} == decisions_shown(home)
    assert WF_FAILED in str(home["blocks"]) and "not an approver" in str(home["blocks"])
    # A click made anyway (say, on a Home tab published before) is refused on their Home tab.
    published = len(stack.slack.calls_to("views.publish"))
    block_id = HOME_DECISION_BLOCK_PREFIX + approval_id
    await stack.select(home["id"], APPROVE_ACTION_ID, block_id, approval_id, user=OUTSIDER)
    await stack.slack.wait_for("views.publish", count=published + 1)
    refreshed = stack.slack.home(OUTSIDER)
    assert refreshed is not None and "You are not an approver" in str(refreshed["blocks"])
    assert [] == patches(stack)
    assert buttons(stack.slack.message(CHANNEL, message.ts))


async def test_an_approvers_own_request_offers_reject_only(stack: Stack) -> None:
    """Self-approval is off: the same rule as in the channel hides Approve; Reject works."""
    message = await open_request(stack, user=LEAD2)
    approval_id = approval_id_of(message)
    home = await home_of(stack, LEAD2)
    block_id = HOME_DECISION_BLOCK_PREFIX + approval_id
    assert {block_id: [(REJECT_ACTION_ID, approval_id)]} == decisions_shown(home)
    published = len(stack.slack.calls_to("views.publish"))
    await stack.select(home["id"], REJECT_ACTION_ID, block_id, approval_id, user=LEAD2)
    await stack.slack.wait_for("views.publish", count=published + 1)
    refreshed = stack.slack.home(LEAD2)
    assert refreshed is not None and "*rejected* by <@U0LEAD2>" in str(refreshed["blocks"])
    assert [] == patches(stack)
    assert "rejected" in text_of(stack.slack.message(CHANNEL, message.ts)).lower()


async def test_the_allow_list_applies_to_the_requests_channel(
    sim: RunningSimulator, sqlite_url: str
) -> None:
    """A click from Home has no channel: the request's own channel must be allowed. A request
    from a channel no longer listed (the config changed) cannot be decided from Home."""
    async with running_stack(sim, sqlite_url, names_yaml()) as stack:
        message = await open_request(stack)
    approval_id = approval_id_of(message)
    async with running_stack(sim, sqlite_url, names_yaml(channels=["C0NEWINC"])) as stack:
        home = await home_of(stack, LEAD1)
        block_id = HOME_DECISION_BLOCK_PREFIX + approval_id
        published = len(stack.slack.calls_to("views.publish"))
        await stack.select(home["id"], APPROVE_ACTION_ID, block_id, approval_id, user=LEAD1)
        await stack.slack.wait_for("views.publish", count=published + 1)
        refreshed = stack.slack.home(LEAD1)
        assert refreshed is not None and "not enabled in this channel" in str(refreshed["blocks"])
        assert [] == patches(stack)


async def test_the_messages_tab_publishes_nothing(stack: Stack) -> None:
    event = app_home_opened_event(LEAD1, tab="messages")
    response = await stack.post(event_callback_body(event))
    assert 200 == response.status_code
    await home_of(stack, LEAD2)  # a Home tab opened after it is published; that one was not
    assert [LEAD2] == [c.params["user_id"] for c in stack.slack.calls_to("views.publish")]
