"""The operations port (SPEC §7, `OPS_PORT`): `GET /healthz`, `GET /readyz`, `GET /metrics`.

Served on its own port, never on the public Slack port, in HTTP and Socket Mode alike. Built from
what it is given (a readiness check, a Prometheus registry, an optional refresh before a scrape,
an optional bearer token); it knows nothing of the bot's parts. Imports no Slack, store or CCE code.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.aiohttp import make_aiohttp_handler

__all__ = ["OpsServer", "Readiness"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Readiness:
    """The answer of a readiness check: ready or not, and each part's own state."""

    ok: bool
    parts: Mapping[str, bool] = field(default_factory=dict)


class OpsServer:
    """The aiohttp app of the ops port.

    `/healthz` answers while the process serves HTTP; `/readyz` is 503 while `readiness` says
    not ready; `/metrics` is the registry in Prometheus' own exposition (its content type too),
    after `before_scrape` has updated what is read on demand. With `metrics_token` set,
    `/metrics` wants `Authorization: Bearer <token>` and answers 401 otherwise; the health
    endpoints stay open, since probes carry no credentials.
    """

    def __init__(
        self,
        *,
        readiness: Callable[[], Awaitable[Readiness]],
        registry: CollectorRegistry,
        before_scrape: Callable[[], Awaitable[None]] | None = None,
        metrics_token: str | None = None,
    ) -> None:
        self._readiness = readiness
        self._before_scrape = before_scrape
        self._expected = f"Bearer {metrics_token}".encode() if metrics_token else None
        self._exposition = make_aiohttp_handler(registry, disable_compression=True)

    def web_app(self) -> web.Application:
        app = web.Application(client_max_size=1024)  # GETs only: no body worth reading
        app.router.add_get("/healthz", self.handle_healthz)
        app.router.add_get("/readyz", self.handle_readyz)
        app.router.add_get("/metrics", self.handle_metrics)
        return app

    async def handle_healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def handle_readyz(self, request: web.Request) -> web.Response:
        ready = await self._readiness()
        body = {"ok": ready.ok, **ready.parts}
        return web.json_response(body, status=200 if ready.ok else 503)

    async def handle_metrics(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            logger.warning("ops.metrics.unauthorized", extra={"status": 401})
            return web.json_response(
                {"error": "unauthorized"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        if self._before_scrape is not None:
            await self._before_scrape()
        return await self._exposition(request)

    def _authorized(self, request: web.Request) -> bool:
        if self._expected is None:
            return True
        # Bytes, as sent: compare_digest refuses non-ASCII str, and a wrong token of any
        # length or content must cost the same as a right one.
        given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
        return hmac.compare_digest(given, self._expected)
