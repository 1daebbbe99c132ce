"""The HTTP door for Slack (`POST /slack/events`): verify first, then hand the request to Bolt.

Bolt would parse the body (and crash on odd shapes) before it checks the signature, and a
non-numeric timestamp makes its verifier raise into the error handler. So the signature is
checked here on the raw bytes first, by slack_sdk's `SignatureVerifier` behind a guard on the
headers' shape; only a verified, well-formed request reaches Bolt (which then does not verify it
a second time, see `bot.app.create_app`). Every refusal is logged once, with its reason.

Also here, the two things that keep the bot's post-ack work off the ack's path: `PostAckGate`
(follow-up work waits while requests are waiting for their HTTP answer) and `KeepAliveRespond`
(`respond()` over one keep-alive session instead of a new connection per call).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from ssl import SSLContext
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.models import JsonObject
from slack_sdk.signature import Clock, SignatureVerifier
from slack_sdk.webhook import WebhookResponse
from slack_sdk.webhook.async_client import AsyncWebhookClient

__all__ = [
    "MAX_SKEW",
    "KeepAliveRespond",
    "MalformedRequest",
    "PostAckGate",
    "signature_ok",
    "to_bolt_request",
]

logger = logging.getLogger(__name__)

MAX_SKEW = 300  # seconds, as Slack and slack_sdk's verifier allow
# What Slack sends, and all the verifier is ever shown: anything else (a non-ASCII signature
# would make `hmac.compare_digest` raise, a non-numeric timestamp `int()`) is refused before.
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class MalformedRequest(ValueError):
    """A verified request whose body is not a shape Slack sends."""


class _Clock(Clock):
    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now

    def now(self) -> float:
        return self._now()


def signature_ok(
    secret: str | None,
    headers: Mapping[str, str],
    body: bytes,
    now: Callable[[], float] = time.time,
) -> bool:
    """Slack's v0 signature over `v0:{timestamp}:{body}`, timestamp within 5 min.

    A refusal is logged as `slack.signature.invalid` with its `reason` (`missing secret`,
    `bad format`, `stale`, `mismatch`), never with the signature or the secret.
    """
    reason = _refusal(secret, headers, body, now)
    if reason is None:
        return True
    logger.warning("slack.signature.invalid", extra={"reason": reason})
    return False


def _refusal(
    secret: str | None, headers: Mapping[str, str], body: bytes, now: Callable[[], float]
) -> str | None:
    if not secret:
        return "missing secret"
    timestamp = headers.get("X-Slack-Request-Timestamp", "")
    signature = headers.get("X-Slack-Signature", "")
    if not _TIMESTAMP.fullmatch(timestamp) or not _SIGNATURE.fullmatch(signature):
        return "bad format"
    if abs(now() - int(timestamp)) > MAX_SKEW:
        return "stale"
    try:
        text = body.decode("utf-8")  # the verifier decodes it; Slack only sends UTF-8
    except UnicodeDecodeError:
        return "bad format"
    verifier = SignatureVerifier(secret, clock=_Clock(now))
    return None if verifier.is_valid(text, timestamp, signature) else "mismatch"


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


class PostAckGate:
    """Where listeners do their post-ack work: after every waiting ack, at most `slots` at once.

    Slack's 3 s deadline is on the ack; the follow-up (API reads, the store, the response_url
    post) has none. On one event loop every runnable follow-up step delays the next ack, so the
    HTTP door counts requests from arrival until their answer is written (`answering`), and work
    entering the gate (`async with gate:`) first takes a slot, then waits while more than one
    answer is pending. One is allowed: it may be the listener's own, about to be written, and
    holding its work until then would only move that work onto the next request's arrival (at
    one request at a time that cost 1.26x bare Bolt's p99 instead of 1.06x).
    `max_delay` bounds the wait from entry, so a steady stream of requests cannot starve the
    follow-up work. Transports without the HTTP door (Socket Mode) never count, so there the
    gate is only the slot limit.
    """

    def __init__(self, slots: int, max_delay: float) -> None:
        self.max_delay = max_delay
        self._slots = asyncio.Semaphore(slots)
        self._urgent = asyncio.Semaphore(slots)
        self._pending = 0
        self._working = 0  # work inside the gate now
        self._quiet = asyncio.Event()
        self._quiet.set()
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def pending(self) -> int:
        """Requests received whose HTTP answer is not written yet."""
        return self._pending

    @contextlib.contextmanager
    def answering(self) -> Iterator[None]:
        """Around one request, from arrival until its answer is written."""
        self._pending += 1
        if self._pending > 1:
            self._idle.clear()
        try:
            yield
        finally:
            self._pending -= 1
            if self._pending <= 1:
                self._idle.set()

    async def __aenter__(self) -> None:
        deadline = asyncio.get_running_loop().time() + self.max_delay
        await self._slots.acquire()
        self._working += 1
        self._quiet.clear()
        try:
            if self._pending > 1:
                async with asyncio.timeout_at(deadline):
                    await self._idle.wait()
        except TimeoutError:
            pass  # waited long enough: do the work now, alongside the acks
        except BaseException:
            self._leave()
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._leave()

    def _leave(self) -> None:
        self._slots.release()
        self._working -= 1
        if not self._working:
            self._quiet.set()

    @contextlib.asynccontextmanager
    async def urgent(self) -> AsyncIterator[None]:
        """Like `async with gate:`, but with slots of its own: for short follow-up work with a
        deadline, such as `views.open` with a command's trigger id (3 s), which slow API calls
        holding every ordinary slot must not delay. It still waits for the pending acks (at
        most `max_delay`), and counts for `drain`."""
        deadline = asyncio.get_running_loop().time() + self.max_delay
        async with self._urgent:
            self._working += 1
            self._quiet.clear()
            try:
                if self._pending > 1:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout_at(deadline):
                            await self._idle.wait()
                yield
            finally:
                self._working -= 1
                if not self._working:
                    self._quiet.set()

    async def drain(self, timeout: float) -> bool:  # noqa: ASYNC109 -- a shutdown deadline
        """Wait (at most `timeout` s) for the work inside the gate to finish; False if it didn't.

        On shutdown, so that work after an ack (a cancel's follow-up, say) is not cut off
        while it still holds a database connection.
        """
        try:
            async with asyncio.timeout(timeout):
                await self._quiet.wait()
        except TimeoutError:
            return False
        return True


def _as_dicts(items: Sequence[dict[str, Any] | JsonObject]) -> list[dict[str, Any]]:
    return [i.to_dict() if isinstance(i, JsonObject) else i for i in items]


class KeepAliveRespond(AsyncRespond):
    """Bolt's `respond()`, over a shared keep-alive aiohttp session.

    Bolt's own builds an `AsyncWebhookClient` without a session for every call, so every answer
    opens a new aiohttp session (with its SSL context and resolver) and a new TCP connection (in
    production also a TLS handshake), then closes them. In bench/ack_latency.py that was the
    largest single cost on the bot's event loop, more than serving the requests themselves. With
    `session=None` it behaves as Bolt's does. Same arguments, and the same message, as Bolt's:
    only the arguments given are sent.
    """

    def __init__(
        self,
        *,
        response_url: str | None,
        session: aiohttp.ClientSession | None,
        proxy: str | None = None,
        ssl: SSLContext | None = None,
    ) -> None:
        super().__init__(response_url=response_url, proxy=proxy, ssl=ssl)
        self.session = session

    async def __call__(
        self,
        text: str | dict[str, Any] = "",
        blocks: Sequence[dict[str, Any] | JsonObject] | None = None,
        attachments: Sequence[dict[str, Any] | JsonObject] | None = None,
        response_type: str | None = None,
        replace_original: bool | None = None,
        delete_original: bool | None = None,
        unfurl_links: bool | None = None,
        unfurl_media: bool | None = None,
        thread_ts: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> WebhookResponse:
        if self.response_url is None:
            raise ValueError("respond is unsupported here as there is no response_url")
        if isinstance(text, dict):  # a whole message, as Bolt's respond() accepts too
            return await self(**text)
        message: dict[str, Any] = {"text": text}
        if blocks:
            message["blocks"] = _as_dicts(blocks)
        if attachments:
            message["attachments"] = _as_dicts(attachments)
        optional = {
            "response_type": response_type,
            "replace_original": replace_original,
            "delete_original": delete_original,
            "unfurl_links": unfurl_links,
            "unfurl_media": unfurl_media,
            "thread_ts": thread_ts,
            "metadata": metadata,
        }
        message.update({k: v for k, v in optional.items() if v is not None})
        client = AsyncWebhookClient(
            url=self.response_url, session=self.session, proxy=self.proxy, ssl=self.ssl
        )
        return await client.send_dict(message)
