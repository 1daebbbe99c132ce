"""The Slack stand-in behaves like Slack for the real slack_sdk client and a real Bolt app."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.standin import (
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    OTHER_APP_ID,
    OTHER_BOT_ID,
    OTHER_USER_ID,
    SCOPES,
    FakeSlack,
    WaitTimeout,
    block_actions_body,
    post_signed,
    sign,
    slash_command_body,
)

SECRET = "test-signing-secret"
META = {"event_type": "cce_request", "event_payload": {"approval_id": "req-1"}}


@pytest.fixture(autouse=True)
def _offline_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKIP_SLACK_SDK_WARNING", "1")
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


@pytest.fixture
def client(slack: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token="xoxb-test", base_url=slack.api_url)


async def test_post_update_and_thread_reply_are_stored(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    """A root message can be updated and replied to, and ts values grow."""
    root = await client.chat_postMessage(channel="C1", text="pending", blocks=[{"type": "divider"}])
    assert root["channel"] == "C1"
    assert root["message"]["user"] == "UBOT"
    ts = root["ts"]

    updated = await client.chat_update(channel="C1", ts=ts, text="approved")
    assert updated["ts"] == ts
    reply = await client.chat_postMessage(channel="C1", thread_ts=ts, text="cancel sent")

    assert reply["message"]["thread_ts"] == ts
    assert reply["message"]["parent_user_id"] == "UBOT"
    assert float(reply["ts"]) > float(ts)
    message = slack.message("C1", ts)
    assert (message.text, message.blocks) == ("approved", [{"type": "divider"}])
    assert [e.text for e in message.edits] == ["approved"]
    assert [m.text for m in slack.thread("C1", ts)] == ["cancel sent"]
    assert [e.kind for e in slack.transcript()] == ["message", "update", "reply"]


async def test_update_of_unknown_message_is_message_not_found(client: AsyncWebClient) -> None:
    """chat.update needs a message at (channel, ts)."""
    with pytest.raises(SlackApiError) as info:
        await client.chat_update(channel="C1", ts="1.000001", text="x")
    assert info.value.response["error"] == "message_not_found"


async def test_post_ephemeral_returns_only_message_ts(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    """postEphemeral answers message_ts only and stores the ephemeral for that user."""
    response = await client.chat_postEphemeral(channel="C1", user="U2", text="not allowed")
    assert {"ok", "message_ts"} == set(response.data)
    assert slack.ephemerals == [("C1", "U2", "not allowed", [])]
    assert slack.ephemerals[0].user == "U2"


async def test_usergroup_members_come_from_configuration(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    """usergroups.users.list is a GET with query params and answers the configured members."""
    slack.usergroups["S1"] = ["U1", "U2"]
    response = await client.usergroups_users_list(usergroup="S1", team_id="T111")
    assert response["users"] == ["U1", "U2"]
    assert slack.calls_to("usergroups.users.list")[0].http_method == "GET"
    with pytest.raises(SlackApiError) as info:
        await client.usergroups_users_list(usergroup="S404")
    assert info.value.response["error"] == "no_such_subteam"


async def test_conversations_and_users_info_have_defaults(client: AsyncWebClient) -> None:
    """Any channel is a member and not archived; any user exists."""
    channel = (await client.conversations_info(channel="C9"))["channel"]
    assert (channel["is_member"], channel["is_archived"]) == (True, False)
    assert (await client.users_info(user="U9"))["user"]["id"] == "U9"
    assert (await client.auth_test())["user_id"] == "UBOT"


async def test_bad_token_is_invalid_auth(slack: FakeSlack) -> None:
    """Tokens that are not xoxb-/xapp- are refused, unless configured."""
    with pytest.raises(SlackApiError) as info:
        await AsyncWebClient(token="nope", base_url=slack.api_url).auth_test()
    assert info.value.response["error"] == "invalid_auth"
    slack.token = "nope"
    assert (await AsyncWebClient(token="nope", base_url=slack.api_url).auth_test())["ok"]


async def test_fail_next_answers_the_error_once(slack: FakeSlack, client: AsyncWebClient) -> None:
    """A scripted failure is HTTP 200 ok:false, then the method works again."""
    slack.fail_next("chat.postMessage", error="not_in_channel")
    with pytest.raises(SlackApiError) as info:
        await client.chat_postMessage(channel="C1", text="x")
    assert (
        info.value.response["error"],
        info.value.response.status_code,
    ) == ("not_in_channel", 200)
    assert not slack.messages
    await client.chat_postMessage(channel="C1", text="x")
    assert len(slack.messages) == 1


async def test_rate_limit_is_retried_and_applied_once(slack: FakeSlack) -> None:
    """A 429 with Retry-After is retried by the SDK handler; the message exists once."""
    client = AsyncWebClient(
        token="xoxb-test",
        base_url=slack.api_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)],
    )
    slack.rate_limit_next("chat.postMessage", retry_after=0)
    await client.chat_postMessage(channel="C1", text="x")
    assert [c.status for c in slack.calls_to("chat.postMessage")] == [429, 200]
    assert len(slack.messages) == 1


async def test_rate_limit_without_handler_is_an_error(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    """Without a retry handler the SDK raises with status 429 and Retry-After."""
    slack.rate_limit_next("chat.update", retry_after=3)
    with pytest.raises(SlackApiError) as info:
        await client.chat_update(channel="C1", ts="1.1", text="x")
    assert info.value.response.status_code == 429
    assert info.value.response.headers["retry-after"] == "3"


async def test_wait_for_returns_once_the_call_arrives(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    """wait_for wakes up on the call, with the state already applied."""
    slack.delay["chat.postMessage"] = 0.05
    task = asyncio.create_task(client.chat_postMessage(channel="C1", text="late"))
    calls = await slack.wait_for("chat.postMessage", predicate=lambda c: c.params["text"] == "late")
    assert calls[0].params["text"] == "late"
    assert len(slack.messages) == 1
    await task


async def test_wait_for_times_out_listing_what_was_recorded(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    """A timeout names the method and shows the calls that did arrive."""
    await client.chat_postMessage(channel="C1", text="x")
    started = time.monotonic()
    with pytest.raises(AssertionError, match=r"chat\.update(.|\n)*chat\.postMessage") as info:
        await slack.wait_for("chat.update", timeout=0.05)
    assert isinstance(info.value, WaitTimeout | TimeoutError)
    assert time.monotonic() - started < 1


async def test_response_url_posts_are_recorded(slack: FakeSlack) -> None:
    """A response_url post is kept with its name."""
    async with httpx.AsyncClient(trust_env=False) as http:
        reply = await http.post(slack.response_url("cmd-1"), json={"text": "hi"})
    assert reply.text == "ok"
    assert slack.responses == [{"text": "hi", "_name": "cmd-1"}]
    assert slack.transcript()[0].kind == "response"


def test_sign_is_accepted_by_slack_sdk() -> None:
    """Our signature equals slack_sdk's and passes its verifier."""
    body = slash_command_body("cancel c w", response_url="http://127.0.0.1:1/response/x")
    now = int(time.time())
    headers = sign(body, SECRET, now)
    verifier = SignatureVerifier(SECRET)
    signature = headers["X-Slack-Signature"]
    assert verifier.generate_signature(timestamp=str(now), body=body) == signature
    assert verifier.is_valid(body, headers["X-Slack-Request-Timestamp"], signature)
    assert not SignatureVerifier("other").is_valid(body, str(now), signature)
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"


def test_bodies_have_slack_fields() -> None:
    """The slash command is a flat form; block_actions is payload=<JSON> with unique action_ts."""
    form = parse_qs(slash_command_body("help", response_url="http://x/r").decode())
    assert {"command", "text", "user_id", "channel_id", "trigger_id", "team_id"} <= set(form)
    kwargs: dict[str, Any] = {
        "action_id": "a",
        "value": "v",
        "user_id": "U1",
        "channel_id": "C1",
        "message_ts": "1.2",
        "response_url": "http://x",
    }
    first, second = (
        json.loads(parse_qs(block_actions_body(**kwargs).decode())["payload"][0]) for _ in "ab"
    )
    assert first["actions"][0]["action_ts"] != second["actions"][0]["action_ts"]
    assert (first["type"], first["container"]["channel_id"]) == ("block_actions", "C1")


@pytest.fixture
async def bolt_url(slack: FakeSlack) -> AsyncIterator[str]:
    app = AsyncApp(
        signing_secret=SECRET,
        client=AsyncWebClient(token="xoxb-test", base_url=slack.api_url),
    )

    @app.command("/cce-upgrade")
    async def handle_command(ack: Any, command: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await client.chat_postMessage(channel=command["channel_id"], text=command["text"])

    @app.action("approve")
    async def handle_approve(ack: Any, respond: Any) -> None:
        await ack()
        await respond(text="approved", replace_original=False)

    runner = web.AppRunner(app.web_app(path="/slack/events"), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}/slack/events"
    await runner.cleanup()


async def test_bolt_app_handles_signed_command(slack: FakeSlack, bolt_url: str) -> None:
    """A signed slash command reaches the listener, whose postMessage lands on the stand-in."""
    body = slash_command_body("status", response_url=slack.response_url("cmd-1"))
    response = await post_signed(bolt_url, body, SECRET)
    assert response.status_code == 200
    [call] = await slack.wait_for("chat.postMessage")
    assert (call.params["channel"], call.params["text"]) == ("C0INCIDENT", "status")
    assert slack.calls_to("auth.test")


async def test_bolt_app_handles_signed_button_click(slack: FakeSlack, bolt_url: str) -> None:
    """A signed block_actions click is routed and its respond() reaches the response_url."""
    body = block_actions_body(
        action_id="approve",
        value="req-1",
        user_id="U2",
        channel_id="C1",
        message_ts="1700000000.000100",
        response_url=slack.response_url("act-1"),
    )
    assert (await post_signed(bolt_url, body, SECRET)).status_code == 200
    [call] = await slack.wait_for("response_url")
    assert (call.params["text"], call.params["_name"]) == ("approved", "act-1")


async def test_bolt_app_refuses_wrong_signature(slack: FakeSlack, bolt_url: str) -> None:
    """A request signed with another secret is 401 and runs nothing."""
    body = slash_command_body("status", response_url=slack.response_url("cmd-1"))
    response = await post_signed(bolt_url, body, "wrong-secret")
    assert response.status_code == 401
    stale = await post_signed(bolt_url, body, SECRET, timestamp=int(time.time()) - 301)
    assert stale.status_code == 401
    assert not slack.calls_to("chat.postMessage")


async def test_fail_next_can_answer_a_server_error(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    """A scripted outage carries its HTTP status."""
    slack.fail_next("chat.update", error="internal_error", status=503)
    with pytest.raises(SlackApiError) as info:
        await client.chat_update(channel="C1", ts="1.1", text="x")
    assert info.value.response.status_code == 503
    assert [c.error for c in slack.calls_to("chat.update")] == ["internal_error"]


# scopes -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("withdrawn", "call"),
    [
        ("chat:write", lambda c: c.chat_postMessage(channel="C1", text="x")),
        ("chat:write", lambda c: c.chat_update(channel="C1", ts="1.1", text="x")),
        ("chat:write", lambda c: c.chat_postEphemeral(channel="C1", user="U1", text="x")),
        ("usergroups:read", lambda c: c.usergroups_users_list(usergroup="S1")),
        ("users:read", lambda c: c.users_info(user="U1")),
        ("channels:read", lambda c: c.conversations_info(channel="C1")),
        ("channels:history", lambda c: c.conversations_history(channel="C1")),
        ("channels:history", lambda c: c.conversations_replies(channel="C1", ts="1.1")),
    ],
)
async def test_a_withdrawn_scope_is_missing_scope(
    slack: FakeSlack, client: AsyncWebClient, withdrawn: str, call: Any
) -> None:
    """Slack names the scope the method needs and the ones the token has; nothing changes."""
    slack.usergroups["S1"] = ["U1"]
    slack.scopes = ",".join(s for s in SCOPES.split(",") if s != withdrawn)
    with pytest.raises(SlackApiError) as info:
        await call(client)
    assert "missing_scope" == info.value.response["error"]
    assert (withdrawn, slack.scopes) == (
        info.value.response["needed"],
        info.value.response["provided"],
    )
    assert not slack.messages and not slack.ephemerals


async def test_a_private_channel_takes_the_groups_scopes(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    """Reading a private channel needs groups:read/groups:history, a public one channels:*."""
    slack.add_channel("CPRIV", private=True)
    slack.channels["CPRIV2"] = {"is_private": True}
    slack.scopes = "chat:write,channels:read,channels:history"
    for channel in ("CPRIV", "CPRIV2"):
        for call, needed in (
            (client.conversations_info(channel=channel), "groups:read"),
            (client.conversations_history(channel=channel), "groups:history"),
        ):
            with pytest.raises(SlackApiError) as info:
                await call
            assert needed == info.value.response["needed"]
    await client.conversations_history(channel="CPUB")
    slack.scopes = "groups:read"
    info_ = (await client.conversations_info(channel="CPRIV"))["channel"]
    assert (info_["is_private"], info_["is_channel"], info_["is_group"]) == (True, False, True)


async def test_every_answer_reports_the_granted_scopes(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    """x-oauth-scopes comes with every authenticated answer, as auth.test's does."""
    slack.scopes = "commands,chat:write"
    response = await client.chat_postMessage(channel="C1", text="x")
    assert "commands,chat:write" == response.headers["x-oauth-scopes"]
    assert "commands,chat:write" == (await client.auth_test()).headers["x-oauth-scopes"]


# messages by others -----------------------------------------------------------------------------


async def test_foreign_messages_show_their_poster(slack: FakeSlack, client: AsyncWebClient) -> None:
    """Another app's and a person's messages are in history and replies with their own ids."""
    root = await client.chat_postMessage(channel="C1", text="ours", metadata=META)
    other = slack.add_foreign_message("C1", "theirs", metadata=META)
    person = slack.add_foreign_message("C1", "hi", bot_id=None, user="U0PERSON")
    reply = slack.add_foreign_message("C1", "in thread", metadata=META, thread_ts=root["ts"])
    assert (other.by_the_bot, slack.message("C1", root["ts"]).by_the_bot) == (False, True)

    history = await client.conversations_history(channel="C1", include_all_metadata=True)
    posters = [
        (m["text"], m["user"], m.get("bot_id"), m.get("app_id")) for m in history["messages"]
    ]
    assert [
        ("hi", "U0PERSON", None, None),
        ("theirs", OTHER_USER_ID, OTHER_BOT_ID, OTHER_APP_ID),
        ("ours", BOT_USER_ID, BOT_ID, APP_ID),
    ] == posters
    assert [None, META, META] == [m.get("metadata") for m in history["messages"]]
    replies = await client.conversations_replies(
        channel="C1", ts=root["ts"], include_all_metadata=True
    )
    [_parent, theirs] = replies["messages"]
    assert (theirs["ts"], theirs["bot_id"], theirs["metadata"]) == (reply.ts, OTHER_BOT_ID, META)
    assert (theirs["thread_ts"], theirs["parent_user_id"]) == (root["ts"], BOT_USER_ID)
    assert person.bot_id is None
    kinds = [(e.kind, e.user) for e in slack.transcript()]
    assert [
        ("message", BOT_USER_ID),
        ("message", OTHER_USER_ID),
        ("message", "U0PERSON"),
        ("reply", OTHER_USER_ID),
    ] == kinds


async def test_the_bot_cannot_edit_a_message_it_did_not_post(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    """chat.update on another poster's message is cant_update_message, as in Slack."""
    other = slack.add_foreign_message("C1", "theirs")
    with pytest.raises(SlackApiError) as info:
        await client.chat_update(channel="C1", ts=other.ts, text="ours now")
    assert "cant_update_message" == info.value.response["error"]
    assert "theirs" == slack.message("C1", other.ts).text


# users, groups and membership -------------------------------------------------------------------


async def test_users_can_be_strict_and_deleted(slack: FakeSlack, client: AsyncWebClient) -> None:
    """With known_users set, others are user_not_found; a user can be marked deleted."""
    assert (await client.users_info(user="U0ANYONE"))["ok"]
    slack.known_users = {"U1"}
    slack.users["U2"] = {"deleted": True}
    assert not (await client.users_info(user="U1"))["user"]["deleted"]
    assert (await client.users_info(user="U2"))["user"]["deleted"]
    assert (await client.users_info(user=BOT_USER_ID))["user"]["is_bot"]
    with pytest.raises(SlackApiError) as info:
        await client.users_info(user="U0ANYONE")
    assert "user_not_found" == info.value.response["error"]


async def test_an_empty_usergroup_has_no_users(slack: FakeSlack, client: AsyncWebClient) -> None:
    slack.usergroups["S0EMPTY"] = []
    assert [] == (await client.usergroups_users_list(usergroup="S0EMPTY"))["users"]


async def test_membership_comes_from_channels(slack: FakeSlack, client: AsyncWebClient) -> None:
    """A channel the bot is not in says so in conversations.info and refuses its posts."""
    slack.add_channel("C0OUT", member=False, name="elsewhere")
    channel = (await client.conversations_info(channel="C0OUT"))["channel"]
    assert (channel["is_member"], channel["name"]) == (False, "elsewhere")
    with pytest.raises(SlackApiError) as info:
        await client.chat_postMessage(channel="C0OUT", text="x")
    assert "not_in_channel" == info.value.response["error"]
    assert (await client.conversations_info(channel="C0IN"))["channel"]["is_member"]


def test_the_standin_imports_nothing_from_the_bot() -> None:
    """bot.standin (and the People who act on an app) load no other part of the bot."""
    code = (
        "import sys, bot.standin, bot.standin.people\n"
        "print(' '.join(m for m in sys.modules if m.startswith(('bot.', 'handlers'))"
        " and not m.startswith('bot.standin')))"
    )
    done = subprocess.run(  # noqa: S603 -- our own interpreter, fixed code
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert "" == done.stdout.strip()
