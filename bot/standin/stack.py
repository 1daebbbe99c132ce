"""The whole bot on loopback: the simulator, the Slack stand-in and the bot serving HTTP.

Used by the end-to-end tests and the offline demo. It drives the bot only from outside, the way
Slack would (signed HTTP posts), so the bot runs its production code paths unchanged.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from aiohttp import web

from bot.app import BotApp, create_app, utcnow
from bot.cce.client import RetryPolicy
from bot.config import BotConfig, Config, Settings
from bot.simulator import RunningSimulator
from bot.slack.blocks import APPROVE_ACTION_ID, REJECT_ACTION_ID
from bot.standin.people import People
from bot.standin.records import Message
from bot.standin.slack_api import FakeSlack
from bot.standin.slack_requests import post_signed

__all__ = ["BotServer", "Stack", "serve_bot", "stack_config"]

SIGNING_SECRET = "standin-signing-secret"
SIM_TOKEN = "standin-iam-token"
FAST_RETRY = RetryPolicy(attempts=3, timeout=5.0, wait_initial=0.01, wait_max=0.05, wait_jitter=0)


def stack_config(
    sim: RunningSimulator,
    slack: FakeSlack,
    database_url: str,
    bot_yaml: dict[str, Any],
    **settings_overrides: Any,
) -> Config:
    """Settings pointing at the stand-ins, and a YAML-equivalent config (validated)."""
    values: dict[str, Any] = {
        "slack_bot_token": "xoxb-standin",
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": slack.api_url,
        "cce_auth_token": SIM_TOKEN,
        "cce_project_id": sim.project_id,
        "cce_endpoint": sim.url,
        "database_url": database_url,
    }
    values.update(settings_overrides)
    settings = Settings(**values)
    return Config(settings, BotConfig.model_validate(bot_yaml))


@dataclass
class BotServer:
    """The bot serving Slack's door on `url` and its ops port (`bot.ops`) on `ops_url`."""

    bot: BotApp
    runner: web.AppRunner
    url: str
    ops_runner: web.AppRunner
    ops_url: str

    async def stop(self) -> None:
        await self.runner.cleanup()
        await self.ops_runner.cleanup()
        await self.bot.stop()


async def _serve(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    bound_host, bound_port = runner.addresses[0][:2]
    return runner, f"http://{bound_host}:{bound_port}"


async def serve_bot(
    bot: BotApp, host: str = "127.0.0.1", port: int = 0, *, scheduler: bool = True
) -> BotServer:
    """Start the bot, its Slack door on `port` and its ops port on a port of its own."""
    await bot.start(scheduler=scheduler)
    runner, url = await _serve(bot.web_app(), host, port)
    ops_runner, ops_url = await _serve(bot.ops_app(), host, 0)
    return BotServer(bot, runner, url, ops_runner, ops_url)


@dataclass
class Stack:
    """A running bot with its stand-ins; `command`, `click` and the rest act as Slack users do,
    through signed HTTP posts to the bot's /slack/events, with trigger ids the stand-in issued."""

    sim: RunningSimulator
    slack: FakeSlack
    config: Config
    clock: Callable[[], datetime]
    scheduler: bool
    server: BotServer | None = None
    http: httpx.AsyncClient = field(
        default_factory=lambda: httpx.AsyncClient(trust_env=False, timeout=10.0)
    )
    people: People = field(init=False)

    def __post_init__(self) -> None:
        self.people = People(self.slack, self.post)

    @property
    def bot(self) -> BotApp:
        if self.server is None:
            raise RuntimeError("the bot is not running")
        return self.server.bot

    async def start_bot(self) -> BotApp:
        bot = create_app(self.config, clock=self.clock, retry=FAST_RETRY)
        self.server = await serve_bot(bot, scheduler=self.scheduler)
        return bot

    async def stop_bot(self) -> None:
        if self.server is not None:
            await self.server.stop()
            self.server = None

    async def restart_bot(self) -> BotApp:
        await self.stop_bot()
        return await self.start_bot()

    @property
    def secret(self) -> str:
        value = self.config.settings.slack_signing_secret
        return value.get_secret_value() if value else SIGNING_SECRET

    async def post(
        self, body: bytes, *, secret: str | None = None, timestamp: int | None = None
    ) -> httpx.Response:
        if self.server is None:
            raise RuntimeError("the bot is not running")
        return await post_signed(
            self.server.url + "/slack/events",
            body,
            secret or self.secret,
            timestamp=timestamp,
            client=self.http,
        )

    async def command(
        self, text: str, *, user: str = "U0REQUEST1", channel: str = "C0INCIDENT"
    ) -> tuple[httpx.Response, str]:
        """Type `/cce-upgrade <text>`; returns the HTTP answer and the response_url's name."""
        return await self.people.command(text, user=user, channel=channel)

    async def click(
        self,
        approval_id: str,
        *,
        user: str,
        message_ts: str,
        channel: str = "C0INCIDENT",
        approve: bool = True,
    ) -> tuple[httpx.Response, str]:
        """Click Approve (or Reject) on an approval request."""
        action_id = APPROVE_ACTION_ID if approve else REJECT_ACTION_ID
        return await self.people.click(
            action_id, approval_id, user=user, channel=channel, message_ts=message_ts
        )

    async def click_button(
        self, message: Message, action_id: str, value: str, *, user: str
    ) -> tuple[httpx.Response, str]:
        """Click a button on a posted message, as the client shows the message now."""
        return await self.people.click_button(message, action_id, value, user=user)

    async def event_home_opened(self, user: str) -> httpx.Response:
        """`user` opens the bot's Home tab (`app_home_opened`)."""
        return await self.people.event_home_opened(user)

    async def suggest(
        self, view_id: str, action_id: str, block_id: str, typed: str, *, user: str | None = None
    ) -> Any:
        """Type into an external select of an open view; returns the bot's JSON answer."""
        return await self.people.suggest(view_id, action_id, block_id, typed, user=user)

    async def select(
        self, view_id: str, action_id: str, block_id: str, option: Any, *, user: str | None = None
    ) -> httpx.Response:
        """Pick `option` in a select (or click a button) inside an open view."""
        return await self.people.select(view_id, action_id, block_id, option, user=user)

    async def submit(
        self,
        view: str | dict[str, Any],
        values: dict[str, dict[str, Any]] | None = None,
        *,
        user: str | None = None,
    ) -> httpx.Response:
        """Enter `values` and submit a modal; the HTTP answer carries `response_action`."""
        return await self.people.submit(view, values, user=user)

    def responses(self, name: str) -> list[dict[str, Any]]:
        """What the bot sent to one response_url, in order."""
        return self.people.responses(name)


@contextlib.asynccontextmanager
async def running_stack(
    sim: RunningSimulator,
    database_url: str,
    bot_yaml: dict[str, Any],
    *,
    clock: Callable[[], datetime] = utcnow,
    scheduler: bool = False,
    slack: FakeSlack | None = None,
    **settings_overrides: Any,
) -> AsyncIterator[Stack]:
    async with contextlib.AsyncExitStack() as exits:
        if slack is None:
            slack = await exits.enter_async_context(FakeSlack())
        stack = Stack(
            sim,
            slack,
            stack_config(sim, slack, database_url, bot_yaml, **settings_overrides),
            clock,
            scheduler,
        )
        await stack.start_bot()
        try:
            yield stack
        finally:
            await stack.stop_bot()
            await stack.http.aclose()


__all__ += ["FAST_RETRY", "SIGNING_SECRET", "SIM_TOKEN", "running_stack"]
