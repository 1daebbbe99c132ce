"""The HTTP door for Slack (`POST /slack/events`): verify first, then hand the request to Bolt.

Bolt would parse the body (and crash on odd shapes) before it checks the signature, and a
non-numeric timestamp makes its verifier raise into the error handler. So the signature is
checked here on the raw bytes first; only a verified, well-formed request reaches Bolt.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest

__all__ = ["MAX_SKEW", "MalformedRequest", "signature_ok", "to_bolt_request"]

MAX_SKEW = 300  # seconds, as Slack and Bolt allow


class MalformedRequest(ValueError):
    """A verified request whose body is not a shape Slack sends."""


def signature_ok(
    secret: str | None,
    headers: Mapping[str, str],
    body: bytes,
    now: Callable[[], float] = time.time,
) -> bool:
    """Slack's v0 scheme: HMAC-SHA256 over `v0:{timestamp}:{body}`, timestamp within 5 min."""
    if not secret:
        return False
    timestamp = headers.get("X-Slack-Request-Timestamp", "")
    signature = headers.get("X-Slack-Signature", "")
    if not timestamp.isascii() or not timestamp.isdigit():
        return False
    if abs(now() - int(timestamp)) > MAX_SKEW:
        return False
    base = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def _check_shape(body: dict[str, Any]) -> None:
    for key in ("user", "team", "channel", "enterprise", "container", "message"):
        if body.get(key) is not None and not isinstance(body[key], dict):
            raise MalformedRequest(f"{key} is not an object")
    if body.get("authorizations") is not None and not isinstance(body["authorizations"], list):
        raise MalformedRequest("authorizations is not a list")
    if body.get("type") == "block_actions":
        actions = body.get("actions")
        if not isinstance(actions, list) or not actions:
            raise MalformedRequest("actions is not a non-empty list")
        if not all(isinstance(a, dict) and isinstance(a.get("action_id"), str) for a in actions):
            raise MalformedRequest("an action has no action_id")


def to_bolt_request(raw: bytes, query: str, headers: Mapping[str, str]) -> AsyncBoltRequest:
    """Bolt's request for a verified body, with its "payload" quirk corrected.

    Bolt parses any form body that contains the letters `payload` as an interactivity post, so
    `/cce-upgrade status payload-cluster …` would be dropped as 404. A slash command has a
    `command` field and no `payload` field: it is re-parsed as the plain form it is.
    Raises `MalformedRequest` for a body Slack would never send.
    """
    try:
        text = raw.decode("utf-8")
        request = AsyncBoltRequest(body=text, query=query, headers=dict(headers))
    except (UnicodeDecodeError, ValueError, TypeError, AttributeError, KeyError) as exc:
        raise MalformedRequest(type(exc).__name__) from None
    if not isinstance(request.body, dict):
        raise MalformedRequest("the body is not an object")
    if not request.body and "payload" in text:
        form = dict(parse_qsl(text, keep_blank_values=True))
        if "command" in form and "payload" not in form:
            request.body = form
            request.context = build_async_context(AsyncBoltContext({}), form)
    _check_shape(request.body)
    return request
