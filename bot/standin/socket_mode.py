"""The stand-in's Socket Mode WebSocket (`/link`): it says hello, pushes envelopes to connected
clients, asks them to reconnect, and keeps every message they send back (their acks).

`FakeSlack` serves it and exposes its methods; `changed` is FakeSlack's condition, notified on
every connection, disconnection and received message so tests can wait on them. Imports nothing
from the rest of the bot.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

from aiohttp import WSMsgType, web

from bot.standin.records import APP_ID, WaitTimeout

__all__ = ["SocketLink"]


class SocketLink:
    """Socket Mode as Slack runs it, for clients that got `ws://.../link` from
    `apps.connections.open`."""

    def __init__(self, changed: asyncio.Condition) -> None:
        self._changed = changed
        self._sockets: list[web.WebSocketResponse] = []
        self._envelope_ids = itertools.count(1)
        self.envelopes: list[dict[str, Any]] = []  # what `send` pushed, oldest first
        self.received: list[dict[str, Any]] = []  # every JSON message a client sent
        self.connections = 0  # WebSocket connections ever accepted

    @property
    def clients(self) -> int:
        """How many clients are connected now."""
        return len(self._sockets)

    async def close(self) -> None:
        for ws in list(self._sockets):
            await ws.close()

    async def wait_for_client(self, count: int, timeout: float) -> None:  # noqa: ASYNC109
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: len(self._sockets) >= count)
        except TimeoutError:
            raise WaitTimeout(
                f"waited {timeout}s for {count} Socket Mode client(s), got {len(self._sockets)}"
            ) from None

    async def send(
        self,
        envelope_type: str,
        payload: dict[str, Any],
        *,
        accepts_response_payload: bool | None,
        retry_attempt: int,
        retry_reason: str,
        timeout: float,  # noqa: ASYNC109 -- how long to wait for a client to connect
    ) -> str:
        await self.wait_for_client(1, timeout)
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

    async def disconnect(self, reason: str) -> None:
        message = {"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-fake"}}
        for ws in list(self._sockets):
            await ws.send_json(message)

    def ack(self, envelope_id: str) -> dict[str, Any] | None:
        for message in self.received:
            if message.get("envelope_id") == envelope_id:
                return message
        return None

    async def wait_for_ack(self, envelope_id: str, timeout: float) -> dict[str, Any]:  # noqa: ASYNC109
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: self.ack(envelope_id) is not None)
        except TimeoutError:
            pass
        ack = self.ack(envelope_id)
        if ack is None:
            seen = "\n".join(f"  {m}" for m in self.received) or "  (nothing)"
            raise WaitTimeout(f"waited {timeout}s for the ack of {envelope_id}; received:\n{seen}")
        return ack

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Serve one client: hello, then keep what it sends until it goes."""
        ws = web.WebSocketResponse()  # answers the SDK's pings itself (autoping)
        await ws.prepare(request)
        async with self._changed:
            self._sockets.append(ws)
            self.connections += 1
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
                    "connection_info": {"app_id": APP_ID},
                }
            )
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await self._keep(msg.data)
        finally:
            async with self._changed:
                if ws in self._sockets:
                    self._sockets.remove(ws)
                self._changed.notify_all()
        return ws

    async def _keep(self, data: str) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            message = {"_raw": data}
        async with self._changed:
            self.received.append(message if isinstance(message, dict) else {"_raw": message})
            self._changed.notify_all()
