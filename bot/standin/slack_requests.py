"""Build and sign the HTTP requests Slack sends to an app: slash commands and block_actions on
messages (buttons and selects), plus the pieces every interaction payload shares.

Bodies are the exact bytes to POST, so the signature covers what goes on the wire; each `*_body`
has a `*_payload` twin that is what a Socket Mode envelope carries. Views live in
`view_requests`, the Events API in `event_requests`. Imports nothing from the rest of the bot.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from collections.abc import Callable
from typing import Any, ParamSpec
from urllib.parse import parse_qsl, urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from bot.standin.records import APP_ID, BOT_ID, BOT_USER_ID, TEAM_ID

__all__ = [
    "block_actions_body",
    "block_actions_payload",
    "interactive_body",
    "post_signed",
    "sign",
    "slash_command_body",
    "slash_command_payload",
]

_FORM = "application/x-www-form-urlencoded"
P = ParamSpec("P")
_counter = itertools.count(1)


def local_trigger_id() -> str:
    """A trigger_id in Slack's shape that no `FakeSlack` issued (views.open refuses it)."""
    n = next(_counter)
    return f"{n}.{int(time.time())}.{hashlib.sha256(str(n).encode()).hexdigest()[:12]}"


def action_ts() -> str:
    """A fresh `action_ts`: unique per action, as Slack's are."""
    return f"{int(time.time())}.{next(_counter) % 1_000_000:06d}"


def user_object(user_id: str, team_id: str = TEAM_ID) -> dict[str, Any]:
    """The `user` object of an interaction payload."""
    name = user_id.lower()
    return {"id": user_id, "username": name, "name": name, "team_id": team_id}


def interactive_body(payload: dict[str, Any]) -> bytes:
    """An interaction payload as Slack POSTs it: `payload=<JSON>`, form-encoded."""
    return urlencode({"payload": json.dumps(payload)}).encode()


def slash_command_body(
    text: str,
    *,
    response_url: str,
    user_id: str = "U0REQUEST1",
    channel_id: str = "C0INCIDENT",
    command: str = "/cce-upgrade",
    team_id: str = TEAM_ID,
    user_name: str | None = None,
    channel_name: str = "incident",
    trigger_id: str | None = None,
) -> bytes:
    """A form-encoded slash command, with every field Slack sends outside Enterprise Grid.

    Pass a `trigger_id` from `FakeSlack.new_trigger_id()` when the command may open a modal.
    """
    fields = {
        "token": "legacy-verification-token",
        "team_id": team_id,
        "team_domain": "acme",
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user_id,
        "user_name": user_name if user_name is not None else user_id.lower(),
        "command": command,
        "text": text,
        "api_app_id": APP_ID,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id if trigger_id is not None else local_trigger_id(),
    }
    return urlencode(fields).encode()


def slash_command_payload(text: str, **fields: Any) -> dict[str, Any]:
    """A slash command as a Socket Mode `slash_commands` envelope carries it: a dict of strings.

    Takes the same arguments as `slash_command_body` (`response_url` is required).
    """
    return dict(parse_qsl(slash_command_body(text, **fields).decode(), keep_blank_values=True))


def block_actions_payload(
    *,
    action_id: str,
    value: str = "",
    user_id: str,
    channel_id: str,
    message_ts: str,
    response_url: str,
    block_id: str = "approval",
    team_id: str = TEAM_ID,
    message: dict[str, Any] | None = None,
    trigger_id: str | None = None,
    selected_option: dict[str, Any] | None = None,
    action_type: str | None = None,
) -> dict[str, Any]:
    """A click on a message's button (or, with `selected_option`, a pick in its select menu) as
    a Socket Mode `interactive` envelope carries it, with a fresh `action_ts`.

    `message` is the message as the clicking client shows it (for example
    `FakeSlack.message(...).as_payload()`); a bare bot message is used when it is None.
    `action_type` defaults to `button`, or `static_select` with a `selected_option`.
    """
    shown = message or {
        "type": "message",
        "ts": message_ts,
        "user": BOT_USER_ID,
        "bot_id": BOT_ID,
        "app_id": APP_ID,
        "text": "",
        "blocks": [],
    }
    container: dict[str, Any] = {
        "type": "message",
        "message_ts": message_ts,
        "channel_id": channel_id,
        "is_ephemeral": False,
    }
    if shown.get("thread_ts"):
        container["thread_ts"] = shown["thread_ts"]
    action: dict[str, Any] = {"action_id": action_id, "block_id": block_id}
    if selected_option is None:
        text = {"type": "plain_text", "text": action_id, "emoji": True}
        action.update(type=action_type or "button", value=value, text=text)
    else:
        action.update(type=action_type or "static_select", selected_option=selected_option)
    action["action_ts"] = action_ts()
    return {
        "type": "block_actions",
        "user": user_object(user_id, team_id),
        "api_app_id": APP_ID,
        "token": "legacy-verification-token",
        "container": container,
        "trigger_id": trigger_id if trigger_id is not None else local_trigger_id(),
        "team": {"id": team_id, "domain": "acme"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": channel_id.lower()},
        "message": shown,
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [action],
    }


def form_body(build: Callable[P, dict[str, Any]]) -> Callable[P, bytes]:
    """Turn an interaction payload builder into one of the body Slack POSTs, same arguments."""

    def body(*args: P.args, **kwargs: P.kwargs) -> bytes:
        return interactive_body(build(*args, **kwargs))

    body.__doc__ = f"`{build.__name__}(...)` as Slack POSTs it: `payload=<JSON>`, form-encoded."
    return body


block_actions_body = form_body(block_actions_payload)


def sign(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack adds: the timestamp, slack_sdk's `v0=` signature and the content type
    (JSON for an Events API body, a form otherwise)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    if signature is None:  # only when the timestamp is None, which it never is here
        raise ValueError("slack_sdk made no signature")
    content_type = "application/json" if body.lstrip().startswith(b"{") else _FORM
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": str(signature),
        "Content-Type": content_type,
    }


async def post_signed(
    url: str,
    body: bytes,
    secret: str,
    *,
    timestamp: int | None = None,
    client: httpx.AsyncClient | None = None,
) -> httpx.Response:
    """POST `body` to a running app (its `/slack/events`), signed as Slack would sign it."""
    headers = sign(body, secret, timestamp)
    if client is not None:
        return await client.post(url, content=body, headers=headers)
    # trust_env=False: a proxy from the environment must not see local test traffic.
    async with httpx.AsyncClient(trust_env=False, timeout=10.0) as own:
        return await own.post(url, content=body, headers=headers)
