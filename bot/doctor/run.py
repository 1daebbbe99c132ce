"""One `doctor` run: build read-only clients from the running config, plan every check, run
them bounded, close everything. Also the `configuration` line that heads the report.

Imports the CCE client (with the bot's own auth, from `bot.app`), slack_sdk and the doctor's
areas; nothing it builds writes anywhere.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
from slack_sdk.web.async_client import AsyncWebClient

from bot.app import cce_auth
from bot.cce.client import CCEClient, RetryPolicy, http_client
from bot.cce.errors import CCEInvalidRequest
from bot.config import Config
from bot.doctor.cce import CCEDoctor, cce_targets
from bot.doctor.checks import Check, Planned, run_checks
from bot.doctor.database import database_check
from bot.doctor.slack import SlackDoctor

__all__ = ["DEFAULT_TIMEOUT", "config_check", "config_failed", "diagnose"]

DEFAULT_TIMEOUT = 10.0
NAME = "configuration"
CHECK_FIX = "fix each problem `cce-upgrade-bot check` lists (one per line)"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def config_failed(problems: list[str]) -> Check:
    """The head line when the configuration does not load: nothing else can be checked."""
    return Check.failed(NAME, f"{len(problems)} problem(s): {'; '.join(problems)}", CHECK_FIX)


def config_check(config: Config) -> Check:
    s = config.settings
    mode = "Socket Mode" if s.slack_app_token else "HTTP mode"
    auth = "AK/SK" if s.cloud_sdk_ak and s.cloud_sdk_sk else "IAM token"
    detail = (
        f"{len(config.bot.clusters)} cluster alias(es), {len(config.bot.projects)} project(s) "
        f"under projects:, {auth}, {mode}"
    )
    if config.notes:
        return Check.warned(NAME, f"{detail}; {'; '.join(config.notes)}", CHECK_FIX)
    return Check.passed(NAME, detail)


def _cce_client(config: Config, seconds: float) -> CCEClient:
    """A client that tries each call once (doctor reports, it does not insist), without the
    bot's request budget: doctor makes a handful of calls."""
    http = http_client(
        cce_auth(config),
        timeout=httpx.Timeout(seconds, connect=min(5.0, seconds)),
        ca_bundle=config.bot.cce.ca_bundle,
    )
    return CCEClient(http, retry=RetryPolicy(attempts=1, timeout=seconds))


def _slack_client(config: Config, seconds: float) -> AsyncWebClient:
    token = config.settings.slack_bot_token
    return AsyncWebClient(
        token=token.get_secret_value() if token else None,
        base_url=config.settings.slack_api_url,
        timeout=max(1, math.ceil(seconds)),
    )


async def diagnose(
    config: Config,
    *,
    each_within: float = DEFAULT_TIMEOUT,
    clock: Callable[[], datetime] = _utcnow,
) -> list[Check]:
    """Every check against the services the config names, in report order: configuration,
    CCE, Slack, database. Never raises; each check gets `each_within` seconds."""
    head = [config_check(config)]
    targets = cce_targets(config)
    s = config.settings
    signed = s.cloud_sdk_ak is not None and s.cloud_sdk_sk is not None
    slack = SlackDoctor(_slack_client(config, each_within))
    cce: CCEDoctor | None = None
    client: CCEClient | None = None
    planned: list[Planned] = []
    try:
        client = _cce_client(config, each_within)
    except CCEInvalidRequest as exc:  # cce.ca_bundle cannot be read
        head.append(
            Check.failed(
                "CCE client",
                str(exc),
                "set cce.ca_bundle to a readable PEM file of the endpoint's CA, or remove it to "
                "use the system trust store",
            )
        )
    else:
        cce = CCEDoctor(client, signed=signed, clock=clock)
        planned += cce.plan(targets)
    planned += slack.plan(config.bot)
    planned.append(database_check(s.database_url))
    try:
        results = await run_checks(planned, each_within=each_within)
    finally:
        await slack.aclose()
        if cce is not None:
            await cce.aclose()
        if client is not None:
            await client.aclose()
    return [*head, *targets.problems, *results]
