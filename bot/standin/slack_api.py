"""A local stand-in for Slack, served by aiohttp on 127.0.0.1:0: the Web API (`/api/{method}`),
`response_url` (`/response/{name}`) and the Socket Mode WebSocket (`/link`).

`FakeSlack` is the workspace (`workspace.Workspace`) behind them: it keeps messages, threads,
ephemerals, views and response_url posts so tests and the offline demo can look at what the bot
did. Here: the HTTP plumbing, the token and scope checks, scripted failures, rate limits and
delays, and waiting for calls. The methods are in `web_methods` and `views`, Socket Mode in
`socket_mode`. The bot never imports this module; it imports nothing from the rest of the bot.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

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
    ViewRecord,
    WaitTimeout,
)
from bot.standin.slack_requests import block_actions_payload, slash_command_payload
from bot.standin.socket_mode import SocketLink
from bot.standin.views import Views
from bot.standin.web_methods import Reply, WebMethods, needed_scope
from bot.standin.workspace import SCOPES, Workspace, blocks_of

__all__ = [
    "BOT_ID",
    "BOT_USER_ID",
    "SCOPES",
    "TEAM_ID",
    "Call",
    "Edit",
    "Ephemeral",
    "Event",
    "FakeSlack",
    "Message",
    "ViewRecord",
    "WaitTimeout",
    "block_actions_payload",
    "slash_command_payload",
]


class FakeSlack(Workspace):
    """Slack's Web API, response_url and Socket Mode on a random port, over one workspace.

    `token` is accepted even when it does not look like a Slack token. `clock` (seconds, like
    `time.time`) decides when a trigger id expires; tests advance it instead of sleeping.
    """

    def __init__(self, *, token: str | None = None, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.token = token
        self.calls: list[Call] = []
        self.delay: dict[str, float] = {}  # seconds before a call is applied
        # Seconds to hold the answer to a call after applying it, as a function of the call.
        self.hold_answer: Callable[[str, Params], float] | None = None
        self._failures: dict[str, list[tuple[str, int]]] = {}
        self._rate_limits: dict[str, list[int]] = {}
        self._drops: dict[str, int] = {}
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._base = ""
        self._link = SocketLink(self._changed)
        self._views = Views(self, clock)
        self._methods = {
            **WebMethods(self).handlers(),
            **self._views.handlers(),
            "apps.connections.open": self._connections_open,
        }

    # lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on 127.0.0.1 on a port the OS picks."""
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/response/{name}", self._handle_response)
        app.router.add_get("/link", self._link.handle)
        # A short shutdown timeout: a call held by `delay` must not hold up teardown.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self._base = f"http://{host}:{port}"

    async def stop(self) -> None:
        await self._link.close()
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

    # views -----------------------------------------------------------------------------------

    def new_trigger_id(self, user: str | None = None) -> str:
        """A trigger id as Slack puts in a command or click: opens one view, within 3 s."""
        return self._views.new_trigger_id(user)

    def fill_view(
        self, view_id: str, values: dict[str, dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """The user enters `values` ({block_id: {action_id: value}}) into the view; returns it as
        Slack puts it in an interaction payload, with everything entered so far in its state."""
        return self._views.fill(view_id, values)

    def apply_submission_response(self, view_id: str, status: int, body: Any) -> None:
        """What Slack does with the app's HTTP answer to a view_submission (status, parsed JSON
        body or None): keep the modal open (errors), update, push, clear, or close it."""
        self._views.apply_submission_response(view_id, status, body)

    # assertions ------------------------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

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
        return self._link.clients

    @property
    def socket_connections(self) -> int:
        """WebSocket connections ever accepted."""
        return self._link.connections

    @property
    def envelopes(self) -> list[dict[str, Any]]:
        """What `socket_send` pushed, oldest first."""
        return self._link.envelopes

    @property
    def socket_received(self) -> list[dict[str, Any]]:
        """Every JSON message a client sent."""
        return self._link.received

    async def wait_for_socket_client(
        self,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 -- a deadline per wait reads best in tests
    ) -> None:
        """Return once `count` Socket Mode clients are connected."""
        await self._link.wait_for_client(count, timeout)

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
        return await self._link.send(
            envelope_type,
            payload,
            accepts_response_payload=accepts_response_payload,
            retry_attempt=retry_attempt,
            retry_reason=retry_reason,
            timeout=timeout,
        )

    async def socket_disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask connected clients to reconnect, as Slack does when it rotates the link."""
        await self._link.disconnect(reason)

    def socket_ack(self, envelope_id: str) -> dict[str, Any] | None:
        """The ack a client sent for `envelope_id`, if any (the first one)."""
        return self._link.ack(envelope_id)

    async def wait_for_socket_ack(
        self,
        envelope_id: str,
        timeout: float = 5.0,  # noqa: ASYNC109 -- a deadline per wait reads best in tests
    ) -> dict[str, Any]:
        """The ack (`{"envelope_id": ..., "payload": {...}}`) a client sent for an envelope."""
        return await self._link.wait_for_ack(envelope_id, timeout)

    # HTTP ------------------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await _read_params(request)
        headers = dict(request.headers)
        verb = request.method
        await self._sleep(method)
        status, reply, extra_headers = self._answer(method, params, headers)
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
            blocks = blocks_of(body.get("blocks"))
            text_ = str(body.get("text", ""))
            self.record(Event("response", None, None, None, text_, blocks, extra=dict(body)))
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
        """(HTTP status, JSON body, extra headers) for one Web API call.

        In Slack's order: the token, its type, rate limits, then (scripted failures aside) the
        scope the method needs, then the method. Slack reports the granted scopes on every
        authenticated answer (`x-oauth-scopes`).
        """
        token = headers.get("Authorization", "").removeprefix("Bearer ").strip()
        token = token or str(params.get("token", ""))
        if not token:
            return 200, {"ok": False, "error": "not_authed"}, {}
        if token != self.token and not token.startswith(("xoxb-", "xapp-")):
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        if method == "apps.connections.open" and not token.startswith("xapp-"):
            return 200, {"ok": False, "error": "not_allowed_token_type"}, {}
        granted = {"x-oauth-scopes": self.scopes}
        if self._rate_limits.get(method):
            retry = str(self._rate_limits[method].pop(0))
            return 429, {"ok": False, "error": "ratelimited"}, {**granted, "Retry-After": retry}
        if self._failures.get(method):
            error, status = self._failures[method].pop(0)
            return status, {"ok": False, "error": error}, granted
        needed = needed_scope(self, method, params)
        if needed and needed not in {s.strip() for s in self.scopes.split(",")}:
            missing = {"ok": False, "error": "missing_scope", "needed": needed}
            return 200, {**missing, "provided": self.scopes}, granted
        handler = self._methods.get(method)
        return 200, handler(params) if handler else {"ok": True}, granted

    def _connections_open(self, params: Params) -> Reply:
        # Only an app-level (xapp-) token gets here; `SocketLink.handle` serves the WebSocket.
        return {"ok": True, "url": f"{self._base.replace('http', 'ws', 1)}/link?ticket=fake"}


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
