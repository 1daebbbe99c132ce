"""Clusters by their names and the workflow found for you (SPEC §2, §2.1): signed commands into
the running bot, the Slack stand-in and the simulator (whose clusters carry names)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.simulator import RunningSimulator, World, default_world, running_simulator
from bot.slack.choices import PICK_WORKFLOW_ACTION_ID
from bot.standin.stack import SIM_TOKEN, Stack, running_stack
from tests.e2e import (
    CHANNEL,
    DEV,
    PROD,
    PROJECT,
    REQUESTER,
    STAGING,
    WF_CRITICAL,
    WF_FAILED,
    WF_RUNNING,
    add_cancellable_workflow,
    answered,
    approval_id_of,
    names_yaml,
    requests_posted,
    text_of,
)

OTHER = "0123456789abcdef0123456789abcdef"  # a second project
TWIN = "11111111-2222-4333-8444-555555555555"  # another cluster named prod-eu, in OTHER
LAB = "11111111-2222-4333-8444-666666666666"  # lab-eu, only in OTHER


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


def cluster_lists(sim: RunningSimulator) -> list[Any]:
    return [c for c in sim.world.calls if c.method == "GET" and c.path.endswith("/clusters")]


def workflow_calls(sim: RunningSimulator) -> list[Any]:
    return [c for c in sim.world.calls if "/upgradeworkflows" in c.path]


def buttons_of(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """The workflow choice buttons of an answer, in order."""
    blocks = answer.get("blocks") or []
    return [
        b["accessory"]
        for b in blocks
        if (b.get("accessory") or {}).get("action_id") == PICK_WORKFLOW_ACTION_ID
    ]


async def pick(stack: Stack, button: dict[str, Any], user: str = REQUESTER) -> dict[str, Any]:
    """Click a choice button on the ephemeral answer; returns the click's final answer."""
    _, name = await stack.people.click(
        PICK_WORKFLOW_ACTION_ID,
        button["value"],
        user=user,
        channel=CHANNEL,
        message_ts="1700000000.000900",  # an ephemeral answer's; nothing is adopted from it
        block_id="choice",
    )
    return await answered(stack, name, count=2)  # "Working on…", then the outcome


async def test_cancel_by_name_takes_the_clusters_one_open_workflow(stack: Stack) -> None:
    """`cancel prod-eu node pool stuck`: no alias, no UUID; the request names the cluster."""
    response, name = await stack.command("cancel prod-eu node pool stuck")
    assert "Working on" in response.text
    answer = await answered(stack, name)
    assert "posted" in answer["text"], answer
    [message] = requests_posted(stack.slack)
    shown = text_of(message)
    assert WF_FAILED in shown and PROD in shown and "*prod-eu*" in shown
    assert "node pool stuck" in shown


async def test_status_and_watch_by_name_in_any_case(stack: Stack) -> None:
    """Names are matched case-insensitively; the open workflow is the one shown or watched."""
    _, name = await stack.command("status PROD-EU")
    status = await answered(stack, name)
    assert WF_FAILED in str(status["blocks"]) and "Pending" in str(status["blocks"])
    _, name = await stack.command("watch Staging-EU")
    assert "Watching it" in (await answered(stack, name))["text"]
    [root] = stack.slack.history(CHANNEL)
    assert WF_RUNNING in root.text and STAGING in text_of(root)


@pytest.mark.parametrize("verb", ["cancel", "status", "watch"])
async def test_no_open_workflow_is_said_plainly(stack: Stack, verb: str) -> None:
    """dev-eu's only upgrade has settled: nothing is guessed, opened or watched."""
    _, name = await stack.command(f"{verb} dev-eu")
    text = (await answered(stack, name))["text"]
    assert "No upgrade workflow on *dev-eu* is in progress" in text
    assert "/cce-upgrade list dev-eu" in text
    assert [] == stack.slack.history(CHANNEL)
    assert {f"/clusters/{DEV}/operation/upgradeworkflows"} == {
        c.path.split(PROJECT)[1] for c in workflow_calls(stack.sim)
    }


@pytest.mark.parametrize("verb", ["cancel", "status", "watch"])
async def test_several_open_workflows_are_offered_as_buttons(
    stack: Stack, world: World, verb: str
) -> None:
    """One button per open workflow, newest first, only for the requester; a click goes on
    with the same command and the same reason."""
    newest = add_cancellable_workflow(world, PROD, age_seconds=60)
    middle = add_cancellable_workflow(world, PROD, age_seconds=600)
    reason = " disk pressure on nodes" if verb == "cancel" else ""
    _, name = await stack.command(f"{verb} prod-eu{reason}")
    answer = await answered(stack, name)
    assert "ephemeral" == answer["response_type"]
    assert "3 upgrade workflows on prod-eu have not settled" in answer["text"]
    buttons = buttons_of(answer)
    assert [newest, middle, WF_FAILED] == [b["value"].split()[2] for b in buttons]
    assert [f"{verb} prod-eu {middle}{reason}"] == [b["value"] for b in buttons[1:2]]
    shown = str(answer["blocks"])
    assert "v1.28 → v1.29" in shown and "Pending" in shown and "created" in shown
    assert [] == stack.slack.history(CHANNEL)  # nothing chosen yet

    outcome = await pick(stack, buttons[1])
    if verb == "cancel":
        assert "posted" in outcome["text"], outcome
        [message] = requests_posted(stack.slack)
        assert middle in text_of(message) and "disk pressure on nodes" in text_of(message)
        assert f"<@{REQUESTER}>" in text_of(message)
    elif verb == "status":
        assert middle in str(outcome["blocks"])
    else:
        [root] = stack.slack.history(CHANNEL)
        assert middle in root.text


async def test_a_choice_button_is_checked_like_typed_text(stack: Stack) -> None:
    """A forged button value (no workflow, a path in it) is refused; nothing is called."""
    before = len(stack.sim.world.calls)
    for value in ("cancel prod-eu", f"cancel prod-eu {WF_FAILED}/../x y", "list prod-eu", "x"):
        _, name = await stack.people.click(
            PICK_WORKFLOW_ACTION_ID, value, user=REQUESTER, channel=CHANNEL, message_ts="1.1"
        )
        assert "not one the bot offered" in (await answered(stack, name))["text"]
    assert before == len(stack.sim.world.calls)
    assert [] == requests_posted(stack.slack)


async def test_a_choice_from_outside_the_allow_list_is_refused(
    sim: RunningSimulator, world: World, sqlite_url: str
) -> None:
    """The allow-list applies to the click's channel, as to a command."""
    add_cancellable_workflow(world, PROD, age_seconds=60)
    async with running_stack(sim, sqlite_url, names_yaml(channels=[CHANNEL])) as stack:
        _, name = await stack.people.click(
            PICK_WORKFLOW_ACTION_ID,
            f"cancel prod-eu {WF_FAILED} x",
            user=REQUESTER,
            channel="C0ELSEWHERE",
            message_ts="1.1",
        )
        assert "not enabled in this channel" in (await answered(stack, name))["text"]
        assert [] == requests_posted(stack.slack)


async def test_an_unknown_name_lists_the_names_the_bot_knows(stack: Stack) -> None:
    _, name = await stack.command("cancel nosuch-eu stuck")
    text = (await answered(stack, name))["text"]
    assert "Unknown cluster `nosuch-eu`" in text
    for known in ("prod-eu", "staging-eu", "dev-eu", "qa-eu"):
        assert f"`{known}`" in text
    assert "/cce-upgrade clusters" in text
    assert [] == workflow_calls(stack.sim) and [] == requests_posted(stack.slack)


async def test_a_name_in_two_projects_is_not_guessed(
    sim: RunningSimulator, world: World, sqlite_url: str
) -> None:
    """Both ids are given; nothing is read, nothing posted. The id still works."""
    world.add_cluster(TWIN, name="prod-eu", version="v1.30", project_id=OTHER)
    yaml = names_yaml(projects=[{"project_id": PROJECT}, {"project_id": OTHER}])
    async with running_stack(sim, sqlite_url, yaml) as stack:
        _, name = await stack.command("cancel prod-eu node pool stuck")
        text = (await answered(stack, name))["text"]
        assert "is in 2 projects" in text
        assert PROD in text and TWIN in text and PROJECT in text and OTHER in text
        assert [] == workflow_calls(sim) and [] == requests_posted(stack.slack)
        _, name = await stack.command(f"status {PROD}")
        assert WF_FAILED in str((await answered(stack, name))["blocks"])


async def test_clusters_shows_what_the_bot_can_see(
    sim: RunningSimulator, world: World, sqlite_url: str
) -> None:
    """Name, id, project, version and phase; a project that cannot be listed is named."""
    world.add_cluster(LAB, name="lab-eu", version="v1.31", project_id=OTHER)
    nowhere = "fedcba9876543210fedcba9876543210"  # not a project the simulator knows
    yaml = names_yaml(projects=[{"project_id": OTHER}, {"project_id": nowhere}])
    async with running_stack(sim, sqlite_url, yaml) as stack:
        response, name = await stack.command("clusters")
        assert "Listing" in response.text
        answer = await answered(stack, name)
        shown = str(answer["blocks"])
        assert "ephemeral" == answer["response_type"]
        for expected in ("*lab-eu*", LAB, OTHER, "v1.31", "Available", "*staging-eu*"):
            assert expected in shown, expected
        assert "Upgrading" in shown  # staging-eu, whose workflow runs
        assert f"Project `{nowhere}` could not be listed" in shown


async def test_one_cluster_list_serves_many_commands(stack: Stack, world: World) -> None:
    """The list is kept (cce.cluster_cache); a name it does not hold is listed again at once,
    and a cluster created since is found."""
    for text in ("status prod-eu", "status qa-eu", "list dev-eu", "status prod-eu", "clusters"):
        _, name = await stack.command(text)
        await answered(stack, name)
    assert 1 == len(cluster_lists(stack.sim))
    new = "3f6c2a9e-1b7d-4c1e-9a2f-5d8e7b6a4c09"
    world.add_cluster(new, name="new-eu")
    created = add_cancellable_workflow(world, new, age_seconds=30)
    _, name = await stack.command("cancel new-eu found on a miss")
    assert "posted" in (await answered(stack, name))["text"]
    assert 2 == len(cluster_lists(stack.sim))
    [message] = requests_posted(stack.slack)
    assert created in text_of(message) and "*new-eu*" in text_of(message)
    assert approval_id_of(message)


async def test_the_ack_names_a_known_cluster_without_io(stack: Stack) -> None:
    """Once listed, a name is recognised in the ack itself; the critical workflow refuses."""
    _, name = await stack.command("status qa-eu")
    await answered(stack, name)
    lists = len(cluster_lists(stack.sim))
    response, name = await stack.command(f"cancel QA-EU {WF_CRITICAL}")
    assert "Working on `qa-eu`" in response.text
    assert "cannot be cancelled now" in (await answered(stack, name))["text"]
    assert lists == len(cluster_lists(stack.sim))


async def test_a_project_that_cannot_be_listed_is_named_when_it_matters(
    sim: RunningSimulator, sqlite_url: str
) -> None:
    """A name found elsewhere still works; one found nowhere says which project failed."""
    nowhere = "fedcba9876543210fedcba9876543210"  # the simulator answers 404 for it
    yaml = names_yaml(projects=[{"project_id": PROJECT}, {"project_id": nowhere}])
    async with running_stack(sim, sqlite_url, yaml) as stack:
        _, name = await stack.command("status prod-eu")
        assert WF_FAILED in str((await answered(stack, name))["blocks"])
        _, name = await stack.command("status nosuch-eu")
        text = (await answered(stack, name))["text"]
        assert "`nosuch-eu` was not found" in text and "not every project could be listed" in text
        assert nowhere in text and "Traceback" not in text
