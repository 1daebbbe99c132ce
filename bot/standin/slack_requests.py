"""Build and sign the HTTP requests Slack sends to an app: slash commands and block_actions.

Bodies are the exact bytes to POST, so the signature covers what goes on the wire.
This module imports nothing from the rest of the bot.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from typing import Any
from urllib.parse import urlencode

import httpx

__all__ = ["block_actions_body", "post_signed", "sign", "slash_command_body"]

_FORM = "application/x-www-form-urlencoded"
_counter = itertools.count(1)


def _trigger_id() -> str:
    n = next(_counter)
    return f"{n}.{int(time.time())}.{hashlib.sha256(str(n).encode()).hexdigest()[:12]}"


def slash_command_body(
    text: str,
    *,
    response_url: str,
    user_id: str = "U0REQUEST1",
    channel_id: str = "C0INCIDENT",
    command: str = "/cce-upgrade",
    team_id: str = "T111",
    user_name: str | None = None,
    channel_name: str = "incident",
    trigger_id: str | None = None,
) -> bytes:
    """A form-encoded slash command, with every field Slack sends outside Enterprise Grid."""
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
        "api_app_id": "A111",
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id if trigger_id is not None else _trigger_id(),
    }
    return urlencode(fields).encode()


def block_actions_body(
    *,
    action_id: str,
    value: str,
    user_id: str,
    channel_id: str,
    message_ts: str,
    response_url: str,
    block_id: str = "approval",
    team_id: str = "T111",
    message: dict[str, Any] | None = None,
) -> bytes:
    """A button click on a message: `payload=<JSON>`, form-encoded, with a fresh `action_ts`.

    `message` is the message as the clicking client shows it (for example
    `FakeSlack.message(...).as_payload()`); a bare bot message is used when it is None.
    """
    shown = message or {
        "type": "message",
        "ts": message_ts,
        "user": "UBOT",
        "bot_id": "BBOT",
        "app_id": "A111",
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
    name = user_id.lower()
    action_ts = f"{int(time.time())}.{next(_counter) % 1_000_000:06d}"  # unique per click
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user_id, "username": name, "name": name, "team_id": team_id},
        "api_app_id": "A111",
        "token": "legacy-verification-token",
        "container": container,
        "trigger_id": _trigger_id(),
        "team": {"id": team_id, "domain": "acme"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": channel_id.lower()},
        "message": shown,
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": block_id,
                "value": value,
                "text": {"type": "plain_text", "text": action_id, "emoji": True},
                "action_ts": action_ts,
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def sign(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """Headers Slack adds: `v0=` HMAC-SHA256 of `v0:{timestamp}:{body}` keyed by the secret."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    base = b"v0:" + ts.encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    content_type = "application/json" if body.lstrip().startswith(b"{") else _FORM
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
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
