"""Bad input gets a clear answer and changes nothing; signatures are enforced."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.domain.commands import (
    Cancel,
    Clusters,
    Help,
    Invalid,
    ListWorkflows,
    OpenModal,
    Status,
    Watch,
    command_text,
    parse_command,
)
from bot.simulator import RunningSimulator
from bot.standin.slack_requests import slash_command_body
from bot.standin.stack import Stack, running_stack
from tests.e2e import PROD, WF_FAILED, bot_yaml, requests_posted

GOOD = "d0b7e319-8172-424c-86ea-543cd23f9756"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", OpenModal()),
        ("  ", OpenModal()),
        ("cancel", OpenModal()),
        ("help", Help()),
        ("HELP me", Help()),
        (f"cancel prod-eu {GOOD}", Cancel("prod-eu", GOOD, "")),
        (f"cancel prod-eu {GOOD.upper()} stuck  nodes", Cancel("prod-eu", GOOD, "stuck nodes")),
        ("cancel prod-eu", Cancel("prod-eu", None, "")),
        ("cancel prod-eu node pool stuck", Cancel("prod-eu", None, "node pool stuck")),
        ("cancel prod-eu ../../x", Cancel("prod-eu", None, "../../x")),  # only ever a reason
        ("cancel prod-eu %2f", Cancel("prod-eu", None, "%2f")),
        (f"status prod-eu {GOOD}", Status("prod-eu", GOOD)),
        ("status prod-eu", Status("prod-eu", None)),
        (f"watch prod-eu {GOOD}", Watch("prod-eu", GOOD)),
        ("watch Prod-EU", Watch("Prod-EU", None)),
        ("list prod-eu", ListWorkflows("prod-eu")),
        (f"list {PROD}", ListWorkflows(PROD)),
        ("clusters", Clusters()),
        ("CLUSTERS", Clusters()),
    ],
)
def test_parse_good_commands(text: str, expected: object) -> None:
    """Well-formed commands parse into their typed form."""
    assert expected == parse_command(text)


@pytest.mark.parametrize(
    "text",
    [
        "frobnicate",
        f"status prod-eu {GOOD} extra",
        "status prod-eu not-a-workflow",
        "watch prod-eu two words",
        "status",
        "list",
        "list a b",
        "clusters prod-eu",
        f"cancel ../etc {GOOD}",
        f"cancel prod-eu/../x {GOOD}",
        f"cancel prod-eu {GOOD}%2f",
        f"cancel prod-eu {GOOD}/../x reason",
        f"status prod-eu {GOOD[:-1]}",
        f"cancel <@U123> {GOOD}",
        f"cancel prod-eu {GOOD[:-1]}",
        f"cancel prod-eu {GOOD} " + "x" * 600,
    ],
)
def test_parse_bad_commands(text: str) -> None:
    """Malformed input is Invalid with a message; nothing would reach the API. A word that
    starts like a workflow id but is not one is refused, never taken for the reason."""
    result = parse_command(text)
    assert isinstance(result, Invalid) and result.problem


@pytest.mark.parametrize(
    "command",
    [
        Cancel("prod-eu", GOOD, "node pool stuck"),
        Cancel("prod-eu", GOOD, ""),
        Cancel("prod-eu", None, "stuck"),
        Status("prod-eu", GOOD),
        Watch("prod-eu", None),
    ],
)
def test_command_text_reads_back_as_the_same_command(command: object) -> None:
    """What a workflow choice button carries is the command, as it would be typed."""
    assert isinstance(command, Cancel | Status | Watch)
    assert command == parse_command(command_text(command))


@pytest.fixture
async def stack(sim: RunningSimulator, sqlite_url: str) -> AsyncIterator[Stack]:
    async with running_stack(sim, sqlite_url, bot_yaml(channels=["C0INCIDENT"])) as running:
        yield running


@pytest.mark.parametrize(
    "text",
    [
        "frobnicate prod-eu",
        "cancel nosuch-cluster " + WF_FAILED,
        f"cancel prod-eu {WF_FAILED}/../../x",
        f"status prod-eu ..%2f{WF_FAILED}",
        "list ../../etc",
        f"cancel {PROD}%2f {WF_FAILED}",
    ],
)
async def test_bad_commands_answer_ephemerally_and_call_nothing(stack: Stack, text: str) -> None:
    """Malformed text, an unknown cluster or a hostile id: an answer for the user, and no API
    call but, for a name the bot does not know, listing the clusters to look for it."""
    response, name = await stack.command(text)
    assert response.status_code == 200
    answer = await answer_to(stack, response, name)
    assert answer and "Traceback" not in answer
    assert len(answer) < 3000
    assert [] == [c for c in stack.sim.world.calls if not c.path.endswith("/clusters")]
    assert [] == requests_posted(stack.slack)


async def answer_to(stack: Stack, response: Any, name: str) -> str:
    """The answer: in the ack itself, or (after "Working on…") through the response_url."""
    if response.text and "Working on" not in response.text:
        return str(response.text)
    await stack.slack.wait_for("response_url", predicate=lambda c: c.params["_name"] == name)
    return str(stack.responses(name)[-1]["text"])


async def test_unknown_cluster_is_named(stack: Stack) -> None:
    """After the clusters are listed again: the unknown cluster, and the names it knows."""
    response, name = await stack.command(f"status nosuch {WF_FAILED}")
    answer = await answer_to(stack, response, name)
    assert "Unknown cluster `nosuch`" in answer and "prod-eu" in answer
    assert {"GET"} == {c.method for c in stack.sim.world.calls}
    assert all(c.path.endswith("/clusters") for c in stack.sim.world.calls)


async def test_help_lists_every_command(stack: Stack) -> None:
    """`help` answers in the ack, privately, with usage and an example."""
    response, _ = await stack.command("help")
    for word in ("cancel", "status", "list", "watch", "Example"):
        assert word in response.text


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Slack-Request-Timestamp": "{now}", "X-Slack-Signature": "v0=" + "0" * 64},
        {"X-Slack-Request-Timestamp": "{now}", "X-Slack-Signature": "v0=abc"},
        {"X-Slack-Request-Timestamp": "{now}"},
    ],
    ids=["unsigned", "forged", "truncated", "signature-missing"],
)
async def test_unsigned_or_forged_requests_are_refused(
    stack: Stack, headers: dict[str, str]
) -> None:
    """401 and nothing happens: no API call, no Slack call."""
    assert stack.server is not None
    body = slash_command_body(
        f"cancel prod-eu {WF_FAILED}", response_url=stack.slack.response_url("x")
    )
    sent = {k: v.replace("{now}", str(int(time.time()))) for k, v in headers.items()}
    sent["Content-Type"] = "application/x-www-form-urlencoded"
    response = await stack.http.post(stack.server.url + "/slack/events", content=body, headers=sent)
    assert response.status_code == 401
    assert [] == stack.sim.world.calls
    assert [] == [c for c in stack.slack.calls if c.method != "auth.test"]


async def test_wrong_secret_and_stale_timestamp_are_refused(stack: Stack) -> None:
    """A signature with another secret, or one older than 5 minutes, gets 401."""
    body = slash_command_body(
        f"cancel prod-eu {WF_FAILED}", response_url=stack.slack.response_url("x")
    )
    assert (await stack.post(body, secret="not-the-secret")).status_code == 401
    stale = int(time.time()) - 301
    assert (await stack.post(body, timestamp=stale)).status_code == 401
    assert [] == stack.sim.world.calls


async def test_channel_allow_list(stack: Stack) -> None:
    """A command from a channel not on the allow-list is refused with an explanation."""
    response, _ = await stack.command(f"cancel prod-eu {WF_FAILED}", channel="C0RANDOM")
    assert "not enabled in this channel" in response.text
    assert [] == stack.sim.world.calls


async def test_text_containing_payload_is_not_dropped(stack: Stack) -> None:
    """Bolt's form parser drops bodies containing "payload"; the bot corrects that."""
    response, name = await stack.command("status payload-cluster " + WF_FAILED)
    assert response.status_code == 200
    assert "Unknown cluster `payload-cluster`" in await answer_to(stack, response, name)


@pytest.mark.parametrize("error", ["not_in_channel", "channel_not_found", "is_archived"])
async def test_slack_refusing_the_post_leaves_nothing_pending(stack: Stack, error: str) -> None:
    """The requester is told how to fix it; the request is not left pending."""
    stack.slack.fail_next("chat.postMessage", error=error)
    _, name = await stack.command(f"cancel prod-eu {WF_FAILED}")
    await stack.slack.wait_for("response_url", predicate=lambda c: c.params["_name"] == name)
    text = stack.responses(name)[-1]["text"]
    assert "No request was left open" in text
    if error != "is_archived":
        assert "/invite" in text
    assert [] == await stack.bot.store.requests.in_state("pending")


async def test_status_and_list_answer_privately(stack: Stack) -> None:
    """`status` shows phase, versions and the task timeline; `list` the workflows."""
    _, name = await stack.command(f"status prod-eu {WF_FAILED}")
    await stack.slack.wait_for("response_url", predicate=lambda c: c.params["_name"] == name)
    status = stack.responses(name)[-1]
    assert status["response_type"] == "ephemeral"
    shown = str(status["blocks"])
    assert "Pending" in shown and "Cluster" in shown and "May be cancelled" in shown
    _, name = await stack.command("list prod-eu")
    await stack.slack.wait_for("response_url", predicate=lambda c: c.params["_name"] == name)
    assert WF_FAILED in str(stack.responses(name)[-1]["blocks"])
