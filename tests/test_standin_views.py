"""The Slack stand-in's views behave like Slack's for the real slack_sdk client: trigger ids that
open one modal within 3 s, views.update with its hash, views.push, and the Home tab per user."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.standin import TRIGGER_LIFETIME, FakeSlack


class Clock:
    """The stand-in's clock in a test: advance it instead of sleeping."""

    def __init__(self) -> None:
        self.now = 1_750_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def _offline_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKIP_SLACK_SDK_WARNING", "1")
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def slack(clock: Clock) -> AsyncIterator[FakeSlack]:
    async with FakeSlack(clock=clock) as fake:
        yield fake


@pytest.fixture
def client(slack: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token="xoxb-test", base_url=slack.api_url)


def modal(title: str = "CCE upgrade", **fields: Any) -> dict[str, Any]:
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": "cce_modal",
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": "Request"},
        "blocks": [
            {
                "type": "input",
                "block_id": "reason_b",
                "label": {"type": "plain_text", "text": "Reason"},
                "element": {"type": "plain_text_input", "action_id": "reason_a"},
            }
        ],
    }
    view.update(fields)
    return view


def home(text: str = "Nothing to cancel") -> dict[str, Any]:
    return {
        "type": "home",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
    }


async def error_of(call: Any) -> str:
    with pytest.raises(SlackApiError) as info:
        await call
    return str(info.value.response["error"])


async def test_views_open_with_a_fresh_trigger_answers_the_view(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    """The view comes back with Slack's id, hash and empty state, and is recorded for its user."""
    trigger_id = slack.new_trigger_id("U1")
    opened = (await client.views_open(trigger_id=trigger_id, view=modal(private_metadata="m")))[
        "view"
    ]
    assert opened["id"].startswith("V")
    assert (opened["root_view_id"], opened["previous_view_id"]) == (opened["id"], None)
    assert opened["hash"] and opened["state"] == {"values": {}}
    assert (opened["callback_id"], opened["private_metadata"]) == ("cce_modal", "m")
    record = slack.views[opened["id"]]
    assert (record.type, record.user, record.closed) == ("modal", "U1", False)
    assert record.view == opened and record.history == [opened]
    [event] = slack.transcript()
    assert (event.kind, event.user, event.text) == ("modal opened", "U1", "CCE upgrade")
    assert event.extra["view_id"] == opened["id"]


async def test_a_trigger_opens_one_view_only(slack: FakeSlack, client: AsyncWebClient) -> None:
    """Slack exchanges a trigger id once; a second views.open with it is exchanged_trigger_id."""
    trigger_id = slack.new_trigger_id("U1")
    await client.views_open(trigger_id=trigger_id, view=modal())
    assert "exchanged_trigger_id" == await error_of(
        client.views_open(trigger_id=trigger_id, view=modal())
    )
    assert 1 == len(slack.views)


async def test_an_unknown_or_missing_trigger_is_refused(client: AsyncWebClient) -> None:
    """Only trigger ids the stand-in issued open views."""
    made_up = "12345.1750000000.abcdef0123456789abcd"
    assert "invalid_trigger_id" == await error_of(
        client.views_open(trigger_id=made_up, view=modal())
    )
    assert "invalid_arguments" == await error_of(client.views_open(trigger_id="", view=modal()))


async def test_a_trigger_expires_after_three_seconds(
    slack: FakeSlack, client: AsyncWebClient, clock: Clock
) -> None:
    """By the stand-in's clock: just under 3 s is fine, over it is expired_trigger_id."""
    late, in_time = slack.new_trigger_id("U1"), slack.new_trigger_id("U2")
    clock.now += TRIGGER_LIFETIME - 0.01
    await client.views_open(trigger_id=in_time, view=modal())
    clock.now += 0.02
    assert "expired_trigger_id" == await error_of(client.views_open(trigger_id=late, view=modal()))
    assert ["modal opened"] == [e.kind for e in slack.transcript()]


@pytest.mark.parametrize(
    "view",
    [
        modal(title="A title longer than 24 chars"),
        modal(private_metadata="x" * 3001),
        modal(submit=None),  # input blocks need a submit button
        {**modal(), "type": "home"},
        {"type": "modal", "blocks": []},  # no title
    ],
)
async def test_a_view_slack_would_refuse_is_invalid_arguments(
    slack: FakeSlack, client: AsyncWebClient, view: dict[str, Any]
) -> None:
    """The limits that bite in practice are checked; nothing is recorded."""
    assert "invalid_arguments" == await error_of(
        client.views_open(trigger_id=slack.new_trigger_id("U1"), view=view)
    )
    assert {} == slack.views


async def test_views_need_no_scope(slack: FakeSlack, client: AsyncWebClient) -> None:
    """views.* need only a trigger id (or a user id), whatever the token was granted."""
    slack.scopes = "commands"
    await client.views_open(trigger_id=slack.new_trigger_id("U1"), view=modal())
    await client.views_publish(user_id="U1", view=home())


async def test_views_update_changes_the_hash_and_keeps_the_history(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    """By view_id or external_id; each update has a new hash; a stale hash is hash_conflict."""
    trigger_id = slack.new_trigger_id("U1")
    opened = (await client.views_open(trigger_id=trigger_id, view=modal(external_id="ext-1")))[
        "view"
    ]
    first = (
        await client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal("Two"))
    )["view"]
    assert (first["id"], first["root_view_id"]) == (opened["id"], opened["id"])
    assert first["hash"] != opened["hash"]
    assert "hash_conflict" == await error_of(
        client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal("Three"))
    )
    second = (await client.views_update(external_id="ext-1", view=modal("Four")))["view"]
    record = slack.views[opened["id"]]
    assert ["CCE upgrade", "Two", "Four"] == [v["title"]["text"] for v in record.history]
    assert record.view == second
    assert ["modal opened", "modal updated", "modal updated"] == [
        e.kind for e in slack.transcript()
    ]
    assert "not_found" == await error_of(client.views_update(view_id="V404", view=modal()))


async def test_views_push_stacks_up_to_three(slack: FakeSlack, client: AsyncWebClient) -> None:
    """A pushed view points at the one under it and the root; a fourth is push_limit_reached."""
    root = (await client.views_open(trigger_id=slack.new_trigger_id("U1"), view=modal()))["view"]
    pushed = (await client.views_push(trigger_id=slack.new_trigger_id("U1"), view=modal("2")))[
        "view"
    ]
    assert (pushed["previous_view_id"], pushed["root_view_id"]) == (root["id"], root["id"])
    await client.views_push(trigger_id=slack.new_trigger_id("U1"), view=modal("3"))
    assert "push_limit_reached" == await error_of(
        client.views_push(trigger_id=slack.new_trigger_id("U1"), view=modal("4"))
    )


async def test_views_publish_keeps_one_home_per_user(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    """Each user has their own Home view; publishing again keeps its id, with a new hash."""
    first = (await client.views_publish(user_id="U1", view=home("one")))["view"]
    await client.views_publish(user_id="U2", view=home("other"))
    again = (await client.views_publish(user_id="U1", view=home("two"), hash=first["hash"]))["view"]
    assert (again["id"], again["type"]) == (first["id"], "home")
    assert again["hash"] != first["hash"]
    assert "two" in str(slack.home("U1")) and "other" in str(slack.home("U2"))
    assert slack.home("U3") is None
    assert 2 == len(slack.views[first["id"]].history)
    assert ["home published"] * 3 == [e.kind for e in slack.transcript()]
    assert ["U1", "U2", "U1"] == [e.user for e in slack.transcript()]
    assert "hash_conflict" == await error_of(
        client.views_publish(user_id="U1", view=home("three"), hash=first["hash"])
    )
    assert "invalid_arguments" == await error_of(client.views_publish(user_id="U1", view=modal()))


async def test_fill_view_keeps_what_the_user_entered(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    """Entered values are typed by their element and kept across an update that keeps the block."""
    opened = (await client.views_open(trigger_id=slack.new_trigger_id("U1"), view=modal()))["view"]
    shown = slack.fill_view(opened["id"], {"reason_b": {"reason_a": "disk pressure"}})
    entered = {"reason_b": {"reason_a": {"type": "plain_text_input", "value": "disk pressure"}}}
    assert entered == shown["state"]["values"]
    updated = (await client.views_update(view_id=opened["id"], view=modal("Again")))["view"]
    assert entered == updated["state"]["values"]
    gone = await client.views_update(view_id=opened["id"], view={**modal(), "blocks": []})
    assert {} == gone["view"]["state"]["values"]


async def test_the_answer_to_a_submission_moves_the_modal_as_slack_does(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    """update replaces the view, push stacks one, clear closes them all, a failure keeps it."""
    root = (await client.views_open(trigger_id=slack.new_trigger_id("U1"), view=modal()))["view"]
    slack.apply_submission_response(root["id"], 500, None)
    slack.apply_submission_response(
        root["id"], 200, {"response_action": "update", "view": modal("B")}
    )
    assert "B" == slack.views[root["id"]].view["title"]["text"]
    slack.apply_submission_response(
        root["id"], 200, {"response_action": "push", "view": modal("C")}
    )
    [pushed] = [r for r in slack.views.values() if r.id != root["id"]]
    assert pushed.view["previous_view_id"] == root["id"]
    slack.apply_submission_response(pushed.id, 200, {"response_action": "clear"})
    assert slack.views[root["id"]].closed and pushed.closed
    kinds = ["modal opened", "modal updated", "modal pushed", "modal closed", "modal closed"]
    assert kinds == [e.kind for e in slack.transcript()]


async def test_fill_view_reports_initial_values_as_entered(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    """As Slack does: an input's initial_option/initial_value is in the state until changed."""
    select = {
        "type": "static_select",
        "action_id": "wf_a",
        "options": [{"text": {"type": "plain_text", "text": "one"}, "value": "1"}],
        "initial_option": {"text": {"type": "plain_text", "text": "one"}, "value": "1"},
    }
    view = modal()
    view["blocks"][0]["element"]["initial_value"] = "given"
    view["blocks"].append(
        {
            "type": "input",
            "block_id": "wf_b",
            "label": {"type": "plain_text", "text": "Workflow"},
            "element": select,
        }
    )
    opened = (await client.views_open(trigger_id=slack.new_trigger_id("U1"), view=view))["view"]
    state = slack.fill_view(opened["id"])["state"]["values"]
    assert "1" == state["wf_b"]["wf_a"]["selected_option"]["value"]
    assert "given" == state["reason_b"]["reason_a"]["value"]
    changed = slack.fill_view(opened["id"], {"reason_b": {"reason_a": "typed"}})
    assert "typed" == changed["state"]["values"]["reason_b"]["reason_a"]["value"]
