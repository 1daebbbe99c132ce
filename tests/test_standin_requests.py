"""The requests the stand-in builds for views and events are what Bolt expects from Slack: signed
so slack_sdk verifies them, routed to the right listeners, and answered the way Slack reads."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.standin import (
    FakeSlack,
    app_home_opened_event,
    block_actions_body,
    block_suggestion_body,
    event_callback_body,
    event_callback_payload,
    option,
    post_signed,
    sign,
    url_verification_body,
    view_block_actions_body,
    view_submission_body,
    view_submission_payload,
)
from bot.standin.people import People

SECRET = "test-signing-secret"
CLUSTERS = ["prod-eu", "prod-us", "staging-eu"]
MODAL: dict[str, Any] = {
    "type": "modal",
    "callback_id": "cce_modal",
    "private_metadata": '{"channel": "C1"}',
    "title": {"type": "plain_text", "text": "Cancel an upgrade"},
    "submit": {"type": "plain_text", "text": "Request"},
    "blocks": [
        {
            "type": "input",
            "block_id": "cluster_b",
            "label": {"type": "plain_text", "text": "Cluster"},
            "element": {"type": "external_select", "action_id": "cluster_a", "min_query_length": 0},
        },
        {
            "type": "actions",
            "block_id": "mode_b",
            "elements": [
                {
                    "type": "static_select",
                    "action_id": "mode_a",
                    "options": [option("now", "Right now"), option("later", "Later")],
                }
            ],
        },
        {
            "type": "input",
            "block_id": "reason_b",
            "optional": True,
            "label": {"type": "plain_text", "text": "Reason"},
            "element": {"type": "plain_text_input", "action_id": "reason_a"},
        },
    ],
}
TEXT = {"type": "plain_text", "text": "Approve"}
HOME: dict[str, Any] = {
    "type": "home",
    "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "No upgrade to cancel"}}],
}


@pytest.fixture(autouse=True)
def _offline_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKIP_SLACK_SDK_WARNING", "1")
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


def bolt_app(slack: FakeSlack, seen: list[dict[str, Any]], **options: Any) -> AsyncApp:
    """A small Bolt app with a modal, its options, a select, a submission and a Home tab."""
    app = AsyncApp(client=AsyncWebClient(token="xoxb-test", base_url=slack.api_url), **options)

    @app.command("/cce-upgrade")
    async def open_modal(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await client.views_open(trigger_id=body["trigger_id"], view=MODAL)

    @app.options("cluster_a")
    async def clusters(ack: Any, body: dict[str, Any]) -> None:
        seen.append(body)
        await ack(options=[option(c) for c in CLUSTERS if c.startswith(body["value"])])

    @app.action("mode_a")
    @app.action("pick_a")
    @app.action("approve")
    async def picked(ack: Any, body: dict[str, Any]) -> None:
        seen.append(body)
        await ack()

    @app.view("cce_modal")
    async def submitted(ack: Any, body: dict[str, Any]) -> None:
        seen.append(body)
        reason = body["view"]["state"]["values"].get("reason_b", {}).get("reason_a", {})
        if not reason.get("value"):
            await ack(response_action="errors", errors={"reason_b": "Say why"})
        else:
            await ack()

    @app.event("app_home_opened")
    async def home_opened(event: dict[str, Any], client: AsyncWebClient) -> None:
        seen.append(event)
        await client.views_publish(user_id=event["user"], view=HOME)

    return app


@pytest.fixture
async def seen() -> list[dict[str, Any]]:
    return []


@pytest.fixture
async def bolt_url(slack: FakeSlack, seen: list[dict[str, Any]]) -> AsyncIterator[str]:
    app = bolt_app(slack, seen, signing_secret=SECRET)
    runner = web.AppRunner(app.web_app(path="/slack/events"), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}/slack/events"
    await runner.cleanup()


@pytest.fixture
async def people(slack: FakeSlack, bolt_url: str) -> AsyncIterator[People]:
    async with httpx.AsyncClient(trust_env=False, timeout=10.0) as http:

        async def deliver(body: bytes) -> httpx.Response:
            return await post_signed(bolt_url, body, SECRET, client=http)

        yield People(slack, deliver)


async def open_modal(slack: FakeSlack, people: People) -> str:
    """U1 types the command; the app opens its modal with the command's trigger id."""
    response, _ = await people.command("", user="U1")
    assert 200 == response.status_code
    [call] = await slack.wait_for("views.open")
    assert call.ok
    [view_id] = slack.views
    return view_id


def test_every_builder_is_signed_as_slack_sdk_verifies() -> None:
    """Form bodies for interactions, JSON for events; all pass slack_sdk's verifier."""
    view = {**MODAL, "id": "V1"}
    bodies = {
        "form": [
            view_submission_body(view=view, user_id="U1", values={"reason_b": {"reason_a": "x"}}),
            block_suggestion_body(
                view=view, action_id="cluster_a", block_id="cluster_b", value="pr", user_id="U1"
            ),
            view_block_actions_body(
                view=view, action_id="mode_a", block_id="mode_b", value="now", user_id="U1"
            ),
        ],
        "json": [
            event_callback_body(app_home_opened_event("U1")),
            url_verification_body("challenge-1"),
        ],
    }
    verifier = SignatureVerifier(SECRET)
    now = int(time.time())
    for kind, signed in bodies.items():
        for body in signed:
            headers = sign(body, SECRET, now)
            assert verifier.is_valid(body, str(now), headers["X-Slack-Signature"])
            expected = "application/json" if kind == "json" else "application/x-www-form-urlencoded"
            assert expected == headers["Content-Type"]


def test_values_are_typed_by_their_element() -> None:
    """A select's value becomes its option (text from the view), an input's its value."""
    body = view_submission_body(
        view={**MODAL, "id": "V1"},
        user_id="U1",
        values={
            "cluster_b": {"cluster_a": "prod-eu"},
            "mode_b": {"mode_a": "later"},
            "reason_b": {"reason_a": "disk"},
        },
    )
    payload = json.loads(parse_qs(body.decode())["payload"][0])
    values = payload["view"]["state"]["values"]
    assert {"type": "external_select", "selected_option": option("prod-eu")} == values["cluster_b"][
        "cluster_a"
    ]
    assert option("later", "Later") == values["mode_b"]["mode_a"]["selected_option"]
    assert {"type": "plain_text_input", "value": "disk"} == values["reason_b"]["reason_a"]
    assert ("view_submission", "cce_modal") == (payload["type"], payload["view"]["callback_id"])


async def test_a_modal_from_a_command_suggests_selects_and_submits(
    slack: FakeSlack, people: People, seen: list[dict[str, Any]]
) -> None:
    """The command's trigger opens the modal; options, a select and submissions reach the app,
    and the stand-in does with the modal what Slack does with the app's answers."""
    view_id = await open_modal(slack, people)

    options = await people.suggest(view_id, "cluster_a", "cluster_b", "prod")
    assert ["prod-eu", "prod-us"] == [o["value"] for o in options["options"]]
    assert ("block_suggestion", "prod", view_id) == (
        seen[-1]["type"],
        seen[-1]["value"],
        seen[-1]["container"]["view_id"],
    )

    assert 200 == (await people.select(view_id, "mode_a", "mode_b", "now")).status_code
    picked = seen[-1]
    assert {"type": "view", "view_id": view_id} == picked["container"]
    assert not {"channel", "message", "response_url"} & set(picked)
    assert option("now", "Right now") == picked["actions"][0]["selected_option"]
    assert (
        "now" == picked["view"]["state"]["values"]["mode_b"]["mode_a"]["selected_option"]["value"]
    )

    refused = await people.submit(view_id, {"cluster_b": {"cluster_a": "prod-eu"}})
    assert {"response_action": "errors", "errors": {"reason_b": "Say why"}} == refused.json()
    assert not slack.views[view_id].closed

    accepted = await people.submit(view_id, {"reason_b": {"reason_a": "disk pressure"}})
    assert (200, b"") == (accepted.status_code, accepted.content)
    state = seen[-1]["view"]["state"]["values"]
    assert "prod-eu" == state["cluster_b"]["cluster_a"]["selected_option"]["value"]
    assert ("U1", '{"channel": "C1"}') == (
        seen[-1]["user"]["id"],
        seen[-1]["view"]["private_metadata"],
    )
    assert slack.views[view_id].closed
    kinds = [e.kind for e in slack.transcript()]
    assert ["modal opened", "modal errors", "modal closed"] == kinds


async def test_opening_the_home_tab_is_an_event_the_app_answers(
    slack: FakeSlack, people: People, seen: list[dict[str, Any]]
) -> None:
    """app_home_opened carries the user, their D… channel and, once published, the Home view."""
    assert 200 == (await people.event_home_opened("U1")).status_code
    await slack.wait_for("views.publish")
    assert (seen[-1]["user"], seen[-1]["tab"]) == ("U1", "home")
    assert seen[-1]["channel"].startswith("D") and "view" not in seen[-1]
    assert HOME["blocks"] == (slack.home("U1") or {}).get("blocks")

    await people.event_home_opened("U1")
    await slack.wait_for("views.publish", count=2)
    assert slack.views[seen[-1]["view"]["id"]].user == "U1"


async def test_url_verification_is_echoed(bolt_url: str) -> None:
    response = await post_signed(bolt_url, url_verification_body("challenge-1"), SECRET)
    assert {"challenge": "challenge-1"} == response.json()


async def test_clicks_and_picks_on_a_message_reach_the_app(
    slack: FakeSlack, people: People, seen: list[dict[str, Any]], bolt_url: str
) -> None:
    """A button click carries the message as shown; a message select its selected_option."""
    blocks = [
        {
            "type": "actions",
            "block_id": "act_b",
            "elements": [
                {
                    "type": "button",
                    "action_id": "approve",
                    "value": "req-1",
                    "text": MODAL["title"],
                },
            ],
        }
    ]
    client = AsyncWebClient(token="xoxb-test", base_url=slack.api_url)
    posted = await client.chat_postMessage(channel="C1", text="approve?", blocks=blocks)
    message = slack.message("C1", posted["ts"])

    response, name = await people.click_button(message, "approve", "req-1", user="U2")
    assert 200 == response.status_code and name.startswith("act-")
    click = seen[-1]
    assert ("act_b", "req-1") == (click["actions"][0]["block_id"], click["actions"][0]["value"])
    assert (message.ts, "approve?") == (click["message"]["ts"], click["message"]["text"])
    assert slack.response_url(name) == click["response_url"]

    body = block_actions_body(
        action_id="pick_a",
        user_id="U2",
        channel_id="C1",
        message_ts=message.ts,
        response_url=slack.response_url("pick"),
        selected_option=option("later"),
    )
    assert 200 == (await post_signed(bolt_url, body, SECRET)).status_code
    assert ("static_select", option("later")) == (
        seen[-1]["actions"][0]["type"],
        seen[-1]["actions"][0]["selected_option"],
    )


async def test_socket_mode_envelopes_carry_the_same_payloads(
    slack: FakeSlack, seen: list[dict[str, Any]]
) -> None:
    """A view_submission over the socket is answered in its ack; an event is acked empty."""
    app = bolt_app(slack, seen)
    handler = AsyncSocketModeHandler(app, "xapp-test")
    await handler.connect_async()  # type: ignore[no-untyped-call]
    try:
        payload = view_submission_payload(view={**MODAL, "id": "V1"}, user_id="U1")
        ack = await slack.wait_for_socket_ack(await slack.socket_send("interactive", payload))
        assert "errors" == ack["payload"]["response_action"]

        event = event_callback_payload(app_home_opened_event("U1"))
        ack = await slack.wait_for_socket_ack(await slack.socket_send("events_api", event))
        assert "payload" not in ack
        await slack.wait_for("views.publish")
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]
        await asyncio.sleep(0)
