"""A local stand-in for the Slack Web API, `response_url` and the Socket Mode WebSocket, served by
aiohttp on 127.0.0.1:0.

It keeps messages, threads, ephemerals and response_url posts so tests and the offline demo can
look at what the bot did, and it can be told to fail, rate-limit or slow down per method.
In Socket Mode, `apps.connections.open` (with an `xapp-` token) hands out `ws://.../link`; tests
push envelopes with `socket_send` and read the bot's acks with `wait_for_socket_ack`.
The bot never imports this module; it imports nothing from the rest of the bot.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

from bot.standin.records import (
    BOT_ID,
    BOT_USER_ID,
    TEAM_ID,
    Call,
    Edit,
    Ephemeral,
    Event,
    Message,
    Params,
    WaitTimeout,
)
from bot.standin.slack_requests import block_actions_body, slash_command_body

__all__ = [
    "BOT_ID",
    "BOT_USER_ID",
    "TEAM_ID",
    "Call",
    "Edit",
    "Ephemeral",
    "Event",
    "FakeSlack",
    "Message",
    "WaitTimeout",
    "block_actions_payload",
    "slash_command_payload",
]

SCOPES = (
    "commands,chat:write,chat:write.public,usergroups:read,users:read,channels:read,groups:read,"
    "channels:history,groups:history"
)
_FIRST_TS_MICROS = 1_700_000_000_000_000

Reply = dict[str, Any]


def _blocks(value: Any) -> list[Any]:
    if isinstance(value, str):
        value = json.loads(value) if value else []
    return list(value) if isinstance(value, list) else []


def slash_command_payload(text: str, **fields: Any) -> dict[str, Any]:
    """A slash command as a Socket Mode `slash_commands` envelope carries it: a dict of strings.

    Takes the same arguments as `slash_command_body` (`response_url` is required).
    """
    return dict(parse_qsl(slash_command_body(text, **fields).decode(), keep_blank_values=True))


def block_actions_payload(**fields: Any) -> dict[str, Any]:
    """A button click as a Socket Mode `interactive` envelope carries it: the parsed JSON.

    Takes the same arguments as `block_actions_body`.
    """
    form = dict(parse_qsl(block_actions_body(**fields).decode(), keep_blank_values=True))
    payload: dict[str, Any] = json.loads(form["payload"])
    return payload


class FakeSlack:
    """Slack's Web API (`/api/{method}`), response_url (`/response/{name}`) and the Socket Mode
    WebSocket (`/link`) on a random port.

    `token` is accepted even when it does not look like a Slack token.
    """

    def __init__(self, *, token: str | None = None) -> None:
        self.token = token
        self.calls: list[Call] = []
        self.messages: dict[tuple[str, str], Message] = {}
        self.ephemerals: list[Ephemeral] = []
        self.responses: list[dict[str, Any]] = []
        self.usergroups: dict[str, list[str]] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.scopes = SCOPES  # what auth.test says the token was granted (x-oauth-scopes)
        self.delay: dict[str, float] = {}  # seconds before a call is applied
        # Seconds to hold the answer to a call after applying it, as a function of the call.
        self.hold_answer: Callable[[str, Params], float] | None = None
        self._events: list[Event] = []
        self._failures: dict[str, list[tuple[str, int]]] = {}
        self._rate_limits: dict[str, list[int]] = {}
        self._drops: dict[str, int] = {}
        self._ts_count = 0
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._base = ""
        self._sockets: list[web.WebSocketResponse] = []
        self._envelope_ids = itertools.count(1)
        self.envelopes: list[dict[str, Any]] = []  # what socket_send pushed, oldest first
        self.socket_received: list[dict[str, Any]] = []  # every JSON message a client sent
        self.socket_connections = 0  # WebSocket connections ever accepted
        self._methods: dict[str, Callable[[Params], Reply]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.postEphemeral": self._post_ephemeral,
            "usergroups.users.list": self._usergroup_users,
            "conversations.info": self._conversation_info,
            "conversations.replies": self._replies,
            "conversations.history": self._history,
            "users.info": self._user_info,
            "apps.connections.open": self._connections_open,
        }

    # lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on 127.0.0.1 on a port the OS picks."""
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/response/{name}", self._handle_response)
        app.router.add_get("/link", self._handle_link)
        # A short shutdown timeout: a call held by `delay` must not hold up teardown.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self._base = f"http://{host}:{port}"

    async def stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeSlack:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def api_url(self) -> str:
        """Base URL for `AsyncWebClient(base_url=...)`, with the trailing slash."""
        if not self._base:
            raise RuntimeError("FakeSlack is not started")
        return f"{self._base}/api/"

    def response_url(self, name: str) -> str:
        """A `response_url` whose posts land in `responses` tagged with `_name`."""
        if not self._base:
            raise RuntimeError("FakeSlack is not started")
        return f"{self._base}/response/{name}"

    # scripting -------------------------------------------------------------------------------

    def fail_next(
        self, method: str, error: str = "not_in_channel", count: int = 1, *, status: int = 200
    ) -> None:
        """Answer the next `count` calls to `method` with `ok: false` and `error`.

        Slack answers most errors with HTTP 200; pass `status=500` or 503 for an outage.
        A failed `response_url` post answers `status` (404 when left at 200) with `error` as text.
        """
        self._failures.setdefault(method, []).extend([(error, status)] * count)

    def drop_next(self, method: str, count: int = 1) -> None:
        """Apply the next `count` calls to `method`, then cut the connection before answering."""
        self._drops[method] = self._drops.get(method, 0) + count

    def rate_limit_next(self, method: str, retry_after: int = 1, count: int = 1) -> None:
        """Answer the next `count` calls with 429, `Retry-After`, and leave state untouched."""
        self._rate_limits.setdefault(method, []).extend([retry_after] * count)

    # assertions ------------------------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def message(self, channel: str, ts: str) -> Message:
        return self.messages[(channel, ts)]

    def thread(self, channel: str, ts: str) -> list[Message]:
        """Replies under the parent at (channel, ts), oldest first, parent excluded."""
        replies = [
            m
            for m in self.messages.values()
            if m.channel == channel and m.thread_ts == ts and m.ts != ts
        ]
        return sorted(replies, key=lambda m: m.ts)

    def transcript(self) -> list[Event]:
        """Everything a person would have seen, in the order it happened."""
        return list(self._events)

    async def wait_for(
        self,
        method: str,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 -- a deadline per wait reads best in tests
        predicate: Callable[[Call], bool] | None = None,
    ) -> list[Call]:
        """Return the calls to `method` (matching `predicate`) once there are `count` of them."""

        def matching() -> list[Call]:
            return [c for c in self.calls_to(method) if predicate is None or predicate(c)]

        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: len(matching()) >= count)
        except TimeoutError:
            seen = "\n".join(f"  {c.method} {c.error or 'ok'} {c.params}" for c in self.calls)
            raise WaitTimeout(
                f"waited {timeout}s for {count} call(s) to {method}, got {len(matching())}; "
                f"recorded:\n{seen or '  (nothing)'}"
            ) from None
        return matching()

    # Socket Mode -----------------------------------------------------------------------------

    @property
    def socket_clients(self) -> int:
        """How many Socket Mode clients are connected now."""
        return len(self._sockets)

    async def wait_for_socket_client(
        self,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 -- a deadline per wait reads best in tests
    ) -> None:
        """Return once `count` Socket Mode clients are connected."""
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: len(self._sockets) >= count)
        except TimeoutError:
            raise WaitTimeout(
                f"waited {timeout}s for {count} Socket Mode client(s), got {len(self._sockets)}"
            ) from None

    async def socket_send(
        self,
        envelope_type: str,
        payload: dict[str, Any],
        *,
        accepts_response_payload: bool | None = None,
        retry_attempt: int = 0,
        retry_reason: str = "",
        timeout: float = 5.0,  # noqa: ASYNC109 -- how long to wait for a client to connect
    ) -> str:
        """Push an envelope (`slash_commands`, `interactive`, `events_api`) to every connected
        client, waiting up to `timeout` for one to connect; returns its `envelope_id`.

        `accepts_response_payload` defaults to what Slack sends: true for slash commands and for
        interactive payloads other than `block_actions`.
        """
        await self.wait_for_socket_client(timeout=timeout)
        if accepts_response_payload is None:
            accepts_response_payload = envelope_type == "slash_commands" or (
                envelope_type == "interactive" and payload.get("type") != "block_actions"
            )
        envelope_id = f"env-{next(self._envelope_ids)}"
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "type": envelope_type,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
        }
        if envelope_type == "events_api":
            envelope["retry_attempt"] = retry_attempt
            envelope["retry_reason"] = retry_reason
        self.envelopes.append(envelope)
        for ws in list(self._sockets):
            await ws.send_json(envelope)
        return envelope_id

    async def socket_disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask connected clients to reconnect, as Slack does when it rotates the link."""
        message = {"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-fake"}}
        for ws in list(self._sockets):
            await ws.send_json(message)

    def socket_ack(self, envelope_id: str) -> dict[str, Any] | None:
        """The ack a client sent for `envelope_id`, if any (the first one)."""
        for message in self.socket_received:
            if message.get("envelope_id") == envelope_id:
                return message
        return None

    async def wait_for_socket_ack(
        self,
        envelope_id: str,
        timeout: float = 5.0,  # noqa: ASYNC109 -- a deadline per wait reads best in tests
    ) -> dict[str, Any]:
        """The ack (`{"envelope_id": ..., "payload": {...}}`) a client sent for an envelope."""
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: self.socket_ack(envelope_id) is not None)
        except TimeoutError:
            pass
        ack = self.socket_ack(envelope_id)
        if ack is None:
            seen = "\n".join(f"  {m}" for m in self.socket_received) or "  (nothing)"
            raise WaitTimeout(f"waited {timeout}s for the ack of {envelope_id}; received:\n{seen}")
        return ack

    async def _handle_link(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()  # answers the SDK's pings itself (autoping)
        await ws.prepare(request)
        async with self._changed:
            self._sockets.append(ws)
            self.socket_connections += 1
            self._changed.notify_all()
        try:
            await ws.send_json(
                {
                    "type": "hello",
                    "num_connections": len(self._sockets),
                    "debug_info": {
                        "host": "applink-fake",
                        "build_number": 1,
                        "approximate_connection_time": 18060,
                    },
                    "connection_info": {"app_id": "A111"},
                }
            )
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    message = json.loads(msg.data)
                except ValueError:
                    message = {"_raw": msg.data}
                async with self._changed:
                    self.socket_received.append(
                        message if isinstance(message, dict) else {"_raw": message}
                    )
                    self._changed.notify_all()
        finally:
            async with self._changed:
                if ws in self._sockets:
                    self._sockets.remove(ws)
                self._changed.notify_all()
        return ws

    # HTTP ------------------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await _read_params(request)
        headers = dict(request.headers)
        verb = request.method
        await self._sleep(method)
        status, reply, extra_headers = self._answer(method, params, headers)
        if method == "auth.test" and reply.get("ok"):
            extra_headers["x-oauth-scopes"] = self.scopes
        error = None if reply.get("ok") else str(reply.get("error"))
        await self._record(Call(method, params, headers, time.time(), status, error, verb))
        held = self.hold_answer(method, params) if self.hold_answer else 0.0
        if held:  # Slack took it; the answer is what is late
            await asyncio.sleep(held)
        if self._drops.get(method) and request.transport is not None:
            self._drops[method] -= 1
            request.transport.abort()  # Slack took it; the answer is lost
        return web.json_response(reply, status=status, headers=extra_headers)

    async def _handle_response(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        body = {**await _read_params(request), "_name": name}
        await self._sleep("response_url")
        status, text, headers = 200, "ok", {}
        if self._rate_limits.get("response_url"):
            headers["Retry-After"] = str(self._rate_limits["response_url"].pop(0))
            status, text = 429, "ratelimited"
        elif self._failures.get("response_url"):
            text, status = self._failures["response_url"].pop(0)
            status = 404 if status == 200 else status
        else:
            self.responses.append(body)
            blocks = _blocks(body.get("blocks"))
            text_ = str(body.get("text", ""))
            event = Event("response", None, None, None, text_, blocks, extra=dict(body))
            self._events.append(event)
        error = None if status == 200 else text
        call = Call("response_url", body, dict(request.headers), time.time(), status, error)
        await self._record(call)
        return web.Response(status=status, text=text, headers=headers)

    async def _sleep(self, method: str) -> None:
        if self.delay.get(method):
            await asyncio.sleep(self.delay[method])

    async def _record(self, call: Call) -> None:
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    def _answer(
        self, method: str, params: Params, headers: dict[str, str]
    ) -> tuple[int, Reply, dict[str, str]]:
        """(HTTP status, JSON body, extra headers) for one Web API call."""
        token = headers.get("Authorization", "").removeprefix("Bearer ").strip()
        token = token or str(params.get("token", ""))
        if not token:
            return 200, {"ok": False, "error": "not_authed"}, {}
        if token != self.token and not token.startswith(("xoxb-", "xapp-")):
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        if method == "apps.connections.open" and not token.startswith("xapp-"):
            return 200, {"ok": False, "error": "not_allowed_token_type"}, {}
        if self._rate_limits.get(method):
            retry = str(self._rate_limits[method].pop(0))
            return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": retry}
        if self._failures.get(method):
            error, status = self._failures[method].pop(0)
            return status, {"ok": False, "error": error}, {}
        handler = self._methods.get(method)
        return 200, handler(params) if handler else {"ok": True}, {}

    # methods ---------------------------------------------------------------------------------

    def _next_ts(self) -> str:
        self._ts_count += 1
        micros = _FIRST_TS_MICROS + 100 * self._ts_count
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _auth_test(self, params: Params) -> Reply:
        return {
            "ok": True,
            "url": "https://acme.slack.com/",
            "team": "Acme",
            "user": "cce-upgrade-bot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _channel_error(self, channel: str) -> str | None:
        if not channel:
            return "channel_not_found"
        info = self.channels.get(channel, {})
        if info.get("is_archived"):
            return "is_archived"
        if info.get("is_member") is False:
            return "not_in_channel"
        return None

    def _post_message(self, params: Params) -> Reply:
        channel = str(params.get("channel", ""))
        text, blocks = str(params.get("text", "")), _blocks(params.get("blocks"))
        if error := self._channel_error(channel):
            return {"ok": False, "error": error}
        if not text and not blocks:
            return {"ok": False, "error": "no_text"}
        thread_ts = str(params["thread_ts"]) if params.get("thread_ts") else None
        metadata = params.get("metadata")
        if isinstance(metadata, str):  # a form-encoded post sends it as JSON text
            metadata = json.loads(metadata) if metadata else None
        message = Message(channel, self._next_ts(), text, blocks, thread_ts, metadata=metadata)
        self.messages[(channel, message.ts)] = message
        kind = "message" if thread_ts is None else "reply"
        self._events.append(
            Event(kind, channel, message.ts, BOT_USER_ID, text, blocks, thread_ts, time.time())
        )
        return {"ok": True, "channel": channel, "ts": message.ts, "message": message.as_payload()}

    def _update(self, params: Params) -> Reply:
        channel, ts = str(params.get("channel", "")), str(params.get("ts", ""))
        message = self.messages.get((channel, ts))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        if "text" in params:
            message.text = str(params["text"])
        if "blocks" in params:
            message.blocks = _blocks(params["blocks"])
        message.edits.append(Edit(message.text, message.blocks, time.time()))
        self._events.append(
            Event(
                "update",
                channel,
                ts,
                BOT_USER_ID,
                message.text,
                message.blocks,
                message.thread_ts,
                time.time(),
            )
        )
        return {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "text": message.text,
            "message": message.as_payload(),
        }

    def _post_ephemeral(self, params: Params) -> Reply:
        channel, user = str(params.get("channel", "")), str(params.get("user", ""))
        text, blocks = str(params.get("text", "")), _blocks(params.get("blocks"))
        if error := self._channel_error(channel):
            return {"ok": False, "error": error}
        if not user:
            return {"ok": False, "error": "user_not_in_channel"}
        message_ts = self._next_ts()
        self.ephemerals.append(Ephemeral(channel, user, text, blocks))
        thread_ts = str(params["thread_ts"]) if params.get("thread_ts") else None
        self._events.append(
            Event("ephemeral", channel, message_ts, user, text, blocks, thread_ts, time.time())
        )
        return {"ok": True, "message_ts": message_ts}

    def _usergroup_users(self, params: Params) -> Reply:
        members = self.usergroups.get(str(params.get("usergroup", "")))
        if members is None:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(members)}

    def _conversation_info(self, params: Params) -> Reply:
        channel = str(params.get("channel", ""))
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        info = {
            "id": channel,
            "name": channel.lower(),
            "is_channel": True,
            "is_group": False,
            "is_im": False,
            "is_private": False,
            "is_archived": False,
            "is_member": True,
            "created": 1654868334,
            "context_team_id": TEAM_ID,
        }
        return {"ok": True, "channel": {**info, **self.channels.get(channel, {})}}

    def _replies(self, params: Params) -> Reply:
        """The parent and its replies, oldest first."""
        channel, ts = str(params.get("channel", "")), str(params.get("ts", ""))
        if (channel, ts) not in self.messages:
            return {"ok": False, "error": "thread_not_found"}
        return _page([self.messages[(channel, ts)], *self.thread(channel, ts)], params)

    def _history(self, params: Params) -> Reply:
        """The channel's top-level messages, newest first (replies stay in their threads)."""
        channel = str(params.get("channel", ""))
        if error := self._channel_error(channel):
            return {"ok": False, "error": error}
        found = [m for m in self.messages.values() if m.channel == channel and m.thread_ts is None]
        return _page(sorted(found, key=lambda m: m.ts, reverse=True), params)

    def _user_info(self, params: Params) -> Reply:
        user_id = str(params.get("user", ""))
        if not user_id:
            return {"ok": False, "error": "user_not_found"}
        name = user_id.lower()
        user = {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": name,
            "deleted": False,
            "real_name": name,
            "tz": "UTC",
            "tz_offset": 0,
            "is_admin": False,
            "is_owner": False,
            "is_bot": False,
            "is_app_user": False,
            "updated": 1700000000,
            "profile": {"display_name": name, "real_name": name},
        }
        return {"ok": True, "user": {**user, **self.users.get(user_id, {})}}

    def _connections_open(self, params: Params) -> Reply:
        # Only an app-level (xapp-) token gets here; `_handle_link` serves the WebSocket.
        return {"ok": True, "url": f"{self._base.replace('http', 'ws', 1)}/link?ticket=fake"}


def _page(messages: list[Message], params: Params) -> Reply:
    """One page of `messages`: `limit` of them from an offset `cursor`; metadata when asked."""
    start = int(params.get("cursor") or 0)
    limit = int(params.get("limit") or 100)
    with_metadata = str(params.get("include_all_metadata", "")).lower() in ("true", "1")
    more = start + limit < len(messages)
    return {
        "ok": True,
        "messages": [m.as_payload(with_metadata=with_metadata) for m in messages[start:][:limit]],
        "has_more": more,
        "response_metadata": {"next_cursor": str(start + limit) if more else ""},
    }


async def _read_params(request: web.Request) -> Params:
    """Query string, then form body, then JSON body, merged: the SDK uses all three."""
    params: Params = dict(request.query)
    raw = await request.read()
    if not raw:
        return params
    if request.content_type == "application/json" or raw.lstrip().startswith(b"{"):
        body = json.loads(raw)
        if isinstance(body, dict):
            params.update(body)
    else:
        params.update(parse_qsl(raw.decode(), keep_blank_values=True))
    return params
