"""The app factory: builds the Bolt app with its shared CCE client, store and scheduler.

`create_app(config)` builds everything and starts nothing; `await bot.start()` creates the schema
and starts the scheduler; `await bot.stop()` closes it all. Overrides exist for tests and the
local simulator, not for features.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import httpx
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.response import BoltResponse
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

import handlers
from bot.cce.budget import Budget
from bot.cce.client import CCEClient, RetryPolicy, http_client
from bot.cce.signing import AKSKAuth, Credentials, TokenAuth
from bot.config import Config
from bot.metrics import Metrics
from bot.ops import OpsServer, Readiness
from bot.parts import Parts, build_parts
from bot.slack.directory import ApproverDirectory
from bot.slack.door import (
    KeepAliveRespond,
    MalformedRequest,
    PostAckGate,
    signature_ok,
    to_bolt_request,
)
from bot.slack.links import WorkspaceLinks
from bot.slack.poster import SlackPoster
from bot.slack.scopes import check_scopes
from bot.slack.views import SlackViews
from bot.store import Store, create_engine
from handlers.errors import report_unexpected

__all__ = ["BotApp", "create_app", "utcnow"]

logger = logging.getLogger(__name__)

# How many listeners may do their post-ack work (API reads, the store, answers) at once. Fewer
# runnable tasks leave the event loop free to ack a burst within Slack's 3 s: at 50 concurrent
# requests p99 ack latency went from 4.2x a bare Bolt app to about 1.2x (bench/ack_latency.py).
# The cost: with 8 slow CCE calls in flight, further answers wait for a slot (acks do not).
POST_ACK_SLOTS = 8
# And that work starts only once no ack is waiting for its HTTP answer (`PostAckGate`), or after
# this long at the latest: a burst's answers come right after the burst, and a steady stream of
# requests delays none by more than this.
POST_ACK_MAX_DELAY = 0.5  # seconds
# On shutdown, how long work after an ack may take to finish before the clients are closed. What
# is still running then is cut short; its lease lapses and another process finishes it.
STOP_GRACE = 10.0  # seconds


def utcnow() -> datetime:
    return datetime.now(UTC)


@functools.cache  # once per process: a test process starting many bots freezes only the first
def freeze_startup_heap() -> None:
    """Keep what exists at startup (modules, the app, its clients) out of later GC passes.

    A full (generation 2) collection walks every tracked object, and the bot starts with a few
    hundred thousand (slack_bolt, SQLAlchemy, pydantic, aiohttp): each one stopped the event loop
    for 30-45 ms, acking nothing, the largest ack stalls in bench/ack_latency.py. Those objects
    live as long as the process, so scanning them finds nothing; `gc.freeze()` moves them to the
    permanent generation (collected first, so no startup garbage is frozen), and later full
    collections walk only what came after. Reference counting still frees them as usual.
    """
    gc.collect()
    gc.freeze()


def cce_auth(config: Config) -> httpx.Auth | None:
    s = config.settings
    if s.cloud_sdk_ak is not None and s.cloud_sdk_sk is not None:
        token = s.cloud_sdk_security_token
        return AKSKAuth(
            Credentials(
                s.cloud_sdk_ak.get_secret_value(),
                s.cloud_sdk_sk.get_secret_value(),
                token.get_secret_value() if token else None,
            )
        )
    if s.cce_auth_token is not None:
        return TokenAuth(s.cce_auth_token.get_secret_value())
    return None


class BotApp:
    """Everything one bot process owns, started and stopped together."""

    def __init__(
        self,
        *,
        config: Config,
        bolt: AsyncApp,
        cce: CCEClient,
        store: Store,
        parts: Parts,
        clock: Callable[[], datetime],
        instance_id: str,
        metrics: Metrics,
    ) -> None:
        self.config = config
        self.bolt = bolt
        self.cce = cce
        self.store = store
        self.parts = parts
        self.watcher = parts.watcher
        self.clock = clock
        self.instance_id = instance_id
        self.metrics = metrics
        secret = config.settings.slack_signing_secret
        self.signing_secret = secret.get_secret_value() if secret else None
        self.post_ack = PostAckGate(POST_ACK_SLOTS, POST_ACK_MAX_DELAY)
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self._started = False
        self._own_session = False
        # The start-up check of the token's scopes (`bot.slack.scopes`); its result: those missing.
        self.scope_check: asyncio.Task[list[str]] | None = None

    async def start(self, *, scheduler: bool = True) -> None:
        await self.store.migrate()
        freeze_startup_heap()
        # One keep-alive session for every Web API call and response_url post (slack_sdk opens
        # one per call otherwise). slack_sdk applies its own timeout only to the sessions it
        # opens, so this one gets the client's (30 s by default).
        if self.bolt.client.session is None:
            self.bolt.client.session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.bolt.client.timeout)
            )
            self._own_session = True
        if self.bolt.client.token:  # in the background: Slack being slow must not delay start
            self.scope_check = asyncio.create_task(check_scopes(self.bolt.client))
        if scheduler:
            self.scheduler.add_job(
                self.housekeeping,
                "interval",
                seconds=self.housekeeping_seconds,
                id="approvals.recovery",
                max_instances=1,
                coalesce=True,
                next_run_time=datetime.now(UTC),  # at once: a restart takes over without delay
            )
            if self.parts.alerts is not None:
                self.scheduler.add_job(
                    self.parts.alerts.tick,
                    "interval",
                    seconds=self.alerts_seconds,
                    id="alerts.tick",
                    max_instances=1,
                    coalesce=True,
                )
            self.scheduler.add_job(
                self.watcher.tick,
                "interval",
                seconds=self.tick_seconds,
                id="watcher.tick",
                max_instances=1,
                coalesce=True,
            )
            self.scheduler.start()
        self._started = True
        logger.info("bot.started", extra={"instance": self.instance_id})

    @property
    def housekeeping_seconds(self) -> float:
        """Often enough that work whose lease lapsed is taken over within a fifth of a lease
        (and at most a second) of the lapse, and that expiry is on time."""
        bot = self.config.bot
        every = min(bot.approval.expires_after / 4, bot.recovery.lease / 5, timedelta(seconds=1))
        return max(every.total_seconds(), 0.1)

    @property
    def alerts_seconds(self) -> float:
        """How often the alerts job looks for clusters that are due (each is due every
        `alerts.interval`; this only bounds how late past that it is looked at)."""
        alerts = self.config.bot.alerts
        every = min(alerts.interval / 4, timedelta(seconds=2)) if alerts else timedelta(seconds=2)
        return max(every.total_seconds(), 0.2)

    @property
    def tick_seconds(self) -> float:
        """Short enough that a watch is polled within a second of being due."""
        return min(1.0, max(self.config.bot.watch.fast_interval.total_seconds() / 2, 0.05))

    async def stop(self) -> None:
        if self.scope_check is not None and not self.scope_check.done():
            self.scope_check.cancel()
        if self.scheduler.running:
            # No new runs, but the runs in flight finish: `shutdown()` cancels them (APScheduler's
            # asyncio executor cancels its pending futures), cutting a tick's polls short.
            self.scheduler.pause()
        if not await self.post_ack.drain(STOP_GRACE):  # work after an ack finishes first
            logger.warning("bot.stop.work_cut_short")
        try:  # a tick in flight finishes before its client closes (within STOP_GRACE)
            async with asyncio.timeout(STOP_GRACE):
                await self.watcher.drain()
                await self.parts.recovery.drain()
                if self.parts.alerts is not None:
                    await self.parts.alerts.drain()
        except TimeoutError:
            logger.warning("bot.stop.work_cut_short")
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)  # cancels what is still running after the grace
        if self._own_session and self.bolt.client.session is not None:
            await self.bolt.client.session.close()
            self.bolt.client.session = None
        await self.cce.aclose()
        await self.store.dispose()
        logger.info("bot.stopped", extra={"instance": self.instance_id})

    async def housekeeping(self) -> int:
        """Scheduler job: expire overdue requests, and take over work whose lease lapsed.

        Never raises: a failure is logged and retried at the next run.
        """
        return await self.parts.recovery.tick()

    # -- HTTP -------------------------------------------------------------------------------

    async def handle_slack(self, request: web.Request) -> web.StreamResponse:
        """Answer one Slack request; it counts as pending until its answer is written.

        The answer is written here rather than by aiohttp after the return, so that the
        post-ack work of this request (and of the others in the same burst) is released only
        once the bytes of its 200 are on the socket (see `PostAckGate`).
        """
        with self.post_ack.answering():
            response = await self._answer_slack(request)
            await response.prepare(request)
            await response.write_eof()
        return response

    async def _answer_slack(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if not signature_ok(self.signing_secret, request.headers, raw):
            return web.json_response({"error": "invalid request"}, status=401)
        try:
            bolt_request = to_bolt_request(raw, request.query_string, request.headers)
        except MalformedRequest as exc:
            logger.warning("slack.request.malformed", extra={"status": str(exc)})
            return web.json_response({"error": "malformed request"}, status=400)
        bolt_response = await self.bolt.async_dispatch(bolt_request)
        return await to_aiohttp_response(bolt_response)

    async def readiness(self) -> Readiness:
        """Ready once started and while the database answers (for `/readyz`)."""
        db = await self.store.ping()
        return Readiness(db and self._started, {"database": db})

    async def update_open_watches(self) -> None:
        """Before a scrape: the open-watches gauge is read from the database on demand."""
        try:
            self.metrics.watches_open(await self.store.watches.count_open())
        except Exception:  # the database is down: /readyz says so; metrics still answer
            logger.debug("metrics.open_watches.failed", exc_info=True)

    def ops_app(self) -> web.Application:
        """The ops port's app (`bot.ops`): health, readiness and metrics, never Slack."""
        token = self.config.settings.metrics_token
        return OpsServer(
            readiness=self.readiness,
            registry=self.metrics.registry,
            before_scrape=self.update_open_watches,
            metrics_token=token.get_secret_value() if token else None,
        ).web_app()

    def web_app(self) -> web.Application:
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_post("/slack/events", self.handle_slack)  # only that: SPEC §7
        return app


def _slack_client(config: Config) -> AsyncWebClient:
    token = config.settings.slack_bot_token
    return AsyncWebClient(
        token=token.get_secret_value() if token else None,
        base_url=config.settings.slack_api_url,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=5),
        ],
    )


def create_app(
    config: Config,
    *,
    cce_transport: httpx.AsyncBaseTransport | None = None,
    slack_client: AsyncWebClient | None = None,
    clock: Callable[[], datetime] = utcnow,
    retry: RetryPolicy | None = None,
) -> BotApp:
    """Build the bot. Nothing is started and no network call is made here."""
    s = config.settings
    metrics = Metrics()
    http = http_client(
        cce_auth(config), transport=cce_transport, ca_bundle=config.bot.cce.ca_bundle
    )
    budget = Budget(config.bot.cce.max_requests_per_second, observer=metrics)
    cce = CCEClient(http, retry=retry, observer=metrics.api_call, budget=budget)
    client = slack_client or _slack_client(config)
    secret = s.slack_signing_secret.get_secret_value() if s.slack_signing_secret else None
    # Bolt's own signature check stays off: `BotApp.handle_slack` has verified every request
    # with slack_sdk's verifier before Bolt sees it (bot/slack/door.py says why there), and a
    # second HMAC over the body would only add to the ack. Socket Mode requests are not signed.
    bolt = AsyncApp(
        client=client,
        signing_secret=secret or "socket-mode-does-not-verify-signatures",
        request_verification_enabled=False,
        process_before_response=False,
    )
    store = Store(create_engine(s.database_url))
    directory = ApproverDirectory(
        client,
        users=config.bot.approvers.users,
        usergroups=config.bot.approvers.usergroups,
        clock=clock,
    )
    instance_id = secrets.token_hex(4)
    parts = build_parts(
        config=config,
        cce=cce,
        store=store,
        poster=SlackPoster(client, on_error=metrics.slack_error),
        views=SlackViews(client, on_error=metrics.slack_error),
        links=WorkspaceLinks(client),
        directory=directory,
        clock=clock,
        owner=instance_id,
        metrics=metrics,
    )
    bot = BotApp(
        config=config,
        bolt=bolt,
        cce=cce,
        store=store,
        parts=parts,
        clock=clock,
        instance_id=instance_id,
        metrics=metrics,
    )

    @bolt.middleware
    async def inject(context: Any, next: Any) -> Any:  # Bolt injects by this name
        context["targets"] = parts.targets
        context["runner"] = parts.runner
        context["modal"] = parts.modal
        context["home"] = parts.home
        context["decisions"] = parts.decisions
        context["watching"] = parts.watching
        context["channels"] = config.bot.channels
        context["metrics"] = metrics
        context["work_slots"] = bot.post_ack
        # Bolt's respond() would open a new connection per answer; this one reuses the
        # client's keep-alive session (set in `BotApp.start`).
        context["respond"] = KeepAliveRespond(
            response_url=context.response_url,
            session=context.client.session,
            proxy=context.client.proxy,
            ssl=context.client.ssl,
        )
        return await next()

    @bolt.error
    async def on_error(
        error: Exception, respond: Any = None, response: BoltResponse | None = None
    ) -> BoltResponse | None:
        """Errors Bolt caught; only verified requests reach Bolt, so `respond` answers Slack."""
        await report_unexpected(error, respond)
        return BoltResponse(status=200, body="") if response is not None else None

    handlers.register(bolt)
    return bot
