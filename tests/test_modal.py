"""The cancel modal (SPEC §10.1) over HTTP: opened with the command's trigger inside Slack's 3 s,
cluster options from what is typed, the workflow select filled once a cluster is chosen, and the
submission checked like the command: refusals on the fields, or the request posted where the
command was typed. Socket Mode: tests/test_socket_mode.py."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.simulator import RunningSimulator, World, default_world, running_simulator
from bot.slack.modal import (
    CANCEL_MODAL_CALLBACK_ID,
    CLUSTER_ACTION_ID,
    CLUSTER_BLOCK_ID,
    REASON_ACTION_ID,
    REASON_BLOCK_ID,
    WORKFLOW_ACTION_ID,
    WORKFLOW_BLOCK_ID,
)
from bot.standin.records import ViewRecord
from bot.standin.stack import SIM_TOKEN, Stack, running_stack
from tests.e2e import (
    CHANNEL,
    LEAD1,
    PROD,
    QA,
    REQUESTER,
    WF_CRITICAL,
    WF_FAILED,
    add_cancellable_workflow,
    answered,
    bot_yaml,
    eventually,
    names_yaml,
    requests_posted,
    text_of,
)


@pytest.fixture
def world() -> World:
    return default_world()


@pytest.fixture
async def sim(world: World) -> AsyncIterator[RunningSimulator]:
    async with running_simulator(world, token=SIM_TOKEN) as running:
        yield running


@pytest.fixture
async def stack(sim: RunningSimulator, sqlite_url: str) -> AsyncIterator[Stack]:
    async with running_stack(sim, sqlite_url, names_yaml()) as running:
        yield running


async def open_modal(stack: Stack, text: str = "", channel: str = CHANNEL) -> ViewRecord:
    """Type the command; returns the modal the bot opened for the requester."""
    response, _ = await stack.command(text, channel=channel)
    assert 200 == response.status_code and "" == response.text  # nothing to show but the form
    [opened] = await stack.slack.wait_for("views.open")
    assert opened.ok, opened.error
    [record] = [v for v in stack.slack.views.values() if v.type == "modal"]
    return record


def workflow_block(view: dict[str, Any]) -> dict[str, Any] | None:
    found = [b for b in view["blocks"] if str(b.get("block_id", "")).startswith(WORKFLOW_BLOCK_ID)]
    return found[0] if found else None


async def choose(stack: Stack, record: ViewRecord, typed: str) -> dict[str, Any]:
    """Type into the cluster select, pick the first option; returns the view once updated."""
    [first, *_] = (await stack.suggest(record.id, CLUSTER_ACTION_ID, CLUSTER_BLOCK_ID, typed))[
        "options"
    ]
    updates = len(stack.slack.calls_to("views.update"))
    response = await stack.select(record.id, CLUSTER_ACTION_ID, CLUSTER_BLOCK_ID, first)
    assert 200 == response.status_code
    await stack.slack.wait_for("views.update", count=updates + 1)
    return stack.slack.view(record.id).view


async def submit(
    stack: Stack, record: ViewRecord, reason: str, workflow_id: str | None = None
) -> Any:
    view = stack.slack.view(record.id).view
    values: dict[str, dict[str, Any]] = {REASON_BLOCK_ID: {REASON_ACTION_ID: reason}}
    block = workflow_block(view)
    if block is not None and workflow_id is not None:
        values[block["block_id"]] = {WORKFLOW_ACTION_ID: workflow_id}
    response = await stack.submit(record.id, values)
    assert 200 == response.status_code
    return response.json() if response.content else None


@pytest.mark.parametrize("text", ["", "cancel", "  CANCEL "])
async def test_the_command_opens_the_modal_with_its_trigger_while_the_api_is_slow(
    stack: Stack, text: str
) -> None:
    """views.open comes first, with the command's own trigger id (the stand-in takes only a
    trigger it issued for that user, once, within 3 s): no API call is waited for."""
    stack.sim.faults.latency = 4.0  # any CCE call before views.open would miss Slack's 3 s
    record = await open_modal(stack, text)
    assert REQUESTER == record.user and not record.closed
    assert CANCEL_MODAL_CALLBACK_ID == record.callback_id
    assert {"channel_id": CHANNEL} == json.loads(record.view["private_metadata"])
    assert [] == stack.sim.world.calls
    kinds = [b["type"] for b in record.view["blocks"]]
    assert "input" in kinds and workflow_block(record.view) is None  # no cluster chosen yet


async def test_the_modal_opens_while_slow_commands_hold_every_work_slot(
    sim: RunningSimulator, sqlite_url: str
) -> None:
    """Work after an ack waits for one of a few slots (bot.app.POST_ACK_SLOTS); views.open
    does not: nine `status` commands stuck on a 3.5 s API do not make its trigger expire."""
    async with running_stack(sim, sqlite_url, bot_yaml()) as stack:  # aliases: no list call
        sim.faults.latency = 3.5
        names = [(await stack.command(f"status prod-eu {WF_FAILED}"))[1] for _ in range(9)]
        record = await open_modal(stack)
        assert REQUESTER == record.user
        for name in names:
            await answered(stack, name, timeout=15)


async def test_options_follow_what_is_typed(stack: Stack) -> None:
    """Names (and aliases, ids) containing the text, those starting with it first."""
    record = await open_modal(stack)

    async def shown(typed: str) -> list[str]:
        answer = await stack.suggest(record.id, CLUSTER_ACTION_ID, CLUSTER_BLOCK_ID, typed)
        return [o["text"]["text"].split(" · ")[0] for o in answer["options"]]

    assert ["staging-eu"] == await shown("stag")
    assert ["prod-eu"] == await shown("PROD")
    assert {"prod-eu", "staging-eu", "dev-eu", "qa-eu"} == set(await shown(""))
    assert ["dev-eu"] == await shown("4c03")  # a piece of its id
    assert [] == await shown("nosuch")
    [option] = (await stack.suggest(record.id, CLUSTER_ACTION_ID, CLUSTER_BLOCK_ID, "qa"))[
        "options"
    ]
    assert QA == option["value"] and "v1.28" in option["text"]["text"]
    lists = [c for c in stack.sim.world.calls if c.path.endswith("/clusters")]
    assert 1 == len(lists)  # one list call serves every keystroke


async def test_choosing_a_cluster_lists_its_open_workflows_newest_first(
    stack: Stack, world: World
) -> None:
    newer = add_cancellable_workflow(world, PROD, age_seconds=60)
    record = await open_modal(stack)
    stack.slack.fill_view(record.id, {REASON_BLOCK_ID: {REASON_ACTION_ID: "typed first"}})
    view = await choose(stack, record, "prod")
    block = workflow_block(view)
    assert block is not None and block["block_id"] == f"{WORKFLOW_BLOCK_ID}:{PROD}"
    options = block["element"]["options"]
    assert [newer, WF_FAILED] == [o["value"] for o in options]
    assert "v1.28 → v1.29 · Pending" in options[0]["text"]["text"]
    assert "prod-eu" in view["blocks"][1]["element"]["initial_option"]["text"]["text"]
    # What was typed stays (the reason block is the same block).
    assert (
        "typed first"
        == stack.slack.view(record.id).values[REASON_BLOCK_ID][REASON_ACTION_ID]["value"]
    )


async def test_a_cluster_with_no_open_workflow_says_so(stack: Stack) -> None:
    record = await open_modal(stack)
    view = await choose(stack, record, "dev-eu")
    assert workflow_block(view) is None
    assert "No upgrade workflow on dev-eu" in str(view["blocks"])
    answer = await submit(stack, record, "stuck")
    assert "errors" == answer["response_action"] and CLUSTER_BLOCK_ID in answer["errors"]


async def test_a_refused_submission_shows_on_the_fields_and_posts_nothing(stack: Stack) -> None:
    """qa-eu's workflow has not run its critical line: the command's own pre-check refuses it,
    on the workflow field; an empty reason is refused on the reason field."""
    record = await open_modal(stack)
    view = await choose(stack, record, "qa-eu")
    block = workflow_block(view)
    assert block is not None
    answer = await submit(stack, record, "   ", WF_CRITICAL)
    assert {
        "response_action": "errors",
        "errors": {REASON_BLOCK_ID: answer["errors"][REASON_BLOCK_ID]},
    } == answer
    answer = await submit(stack, record, "node pool stuck", WF_CRITICAL)
    assert "errors" == answer["response_action"]
    error = answer["errors"][block["block_id"]]
    assert "cannot be cancelled now" in error and "`" not in error  # plain text
    assert not stack.slack.view(record.id).closed
    assert [] == stack.slack.calls_to("chat.postMessage")
    assert [] == [c for c in stack.sim.world.calls if c.method == "PATCH"]
    assert "modal errors" in [e.kind for e in stack.slack.transcript()]


async def test_an_accepted_submission_posts_in_the_commands_channel(stack: Stack) -> None:
    """The request goes where the command was typed (carried in private_metadata); the form
    closes; a lead can approve it as any other."""
    record = await open_modal(stack, channel="C0OTHERINC")
    await choose(stack, record, "prod-eu")
    answer = await submit(stack, record, "node pool stuck", WF_FAILED)
    assert answer is None  # an empty ack: the form closes
    assert stack.slack.view(record.id).closed
    [message] = requests_posted(stack.slack)
    assert "C0OTHERINC" == message.channel
    shown = text_of(message)
    assert WF_FAILED in shown and "node pool stuck" in shown and f"<@{REQUESTER}>" in shown


async def test_a_forged_channel_is_refused(sim: RunningSimulator, sqlite_url: str) -> None:
    """private_metadata comes back from Slack: a channel off the allow-list, or none, posts
    nothing."""
    async with running_stack(sim, sqlite_url, names_yaml(channels=[CHANNEL])) as other:
        record = await open_modal(other)
        await choose(other, record, "prod-eu")
        for metadata in ('{"channel_id": "C0NOTLISTED"}', "not json", '{"channel_id": "../x"}'):
            shown = other.slack.view(record.id).view
            view = {**shown, "id": "VFORGED", "private_metadata": metadata}
            block = workflow_block(view)
            assert block is not None
            response = await other.submit(
                view,
                {
                    REASON_BLOCK_ID: {REASON_ACTION_ID: "stuck"},
                    CLUSTER_BLOCK_ID: {
                        CLUSTER_ACTION_ID: {
                            "text": {"type": "plain_text", "text": "p"},
                            "value": PROD,
                        }
                    },
                    block["block_id"]: {WORKFLOW_ACTION_ID: WF_FAILED},
                },
                user=REQUESTER,
            )
            assert CLUSTER_BLOCK_ID in response.json()["errors"], metadata
        assert [] == requests_posted(other.slack)


async def test_a_slow_check_answers_in_time_then_says_what_came_of_it(stack: Stack) -> None:
    """Slack waits 3 s for the answer: past 2 s the form says it is checking, and then that the
    request was posted."""
    record = await open_modal(stack)
    await choose(stack, record, "prod-eu")
    stack.sim.faults.latency = 2.5
    answer = await submit(stack, record, "node pool stuck", WF_FAILED)
    assert "update" == answer["response_action"]
    assert "Checking" in str(answer["view"]["blocks"])
    updates = len(stack.slack.calls_to("views.update"))
    await stack.slack.wait_for("views.update", count=updates + 1, timeout=10)
    assert "posted in <#C0INCIDENT>" in str(stack.slack.view(record.id).view["blocks"])
    assert 1 == len(requests_posted(stack.slack))


async def test_another_part_can_open_it_filled_in(stack: Stack, world: World) -> None:
    """`CancelModal.open(trigger_id, channel_id, cluster=..., workflow_id=...)` (what an
    alert's "Request cancel…" calls): opened at once, then its workflows filled in."""
    add_cancellable_workflow(world, PROD, age_seconds=60)
    trigger_id = stack.slack.new_trigger_id(LEAD1)
    await stack.bot.parts.modal.open(trigger_id, CHANNEL, cluster="prod-eu", workflow_id=WF_FAILED)
    [record] = [v for v in stack.slack.views.values() if v.type == "modal"]
    first = record.history[0]
    assert "prod-eu" == first["blocks"][1]["element"]["initial_option"]["value"]
    block = workflow_block(record.view)
    assert block is not None and 2 == len(block["element"]["options"])
    assert WF_FAILED == block["element"]["initial_option"]["value"]
    answer = await submit(stack, record, "alert: Cluster task failed", WF_FAILED)
    assert answer is None
    [message] = requests_posted(stack.slack)
    assert f"<@{LEAD1}>" in text_of(message)

    async def closed() -> bool:
        return stack.slack.view(record.id).closed

    await eventually(closed)
