"""The rules a configuration must follow beyond its types, each broken rule one plain sentence.

Slack ID shapes (as pydantic types, so they are reported with the file's other errors), and the
checks `bot.config` runs once the file has parsed: durations that could not work together, the
log level and the ports. Imports nothing from the bot but the log levels; `bot.config` imports
this module, never the other way round.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator

from bot.domain.durations import format_duration
from bot.logs import LOG_LEVELS

if TYPE_CHECKING:
    from bot.config import BotConfig, Settings

__all__ = [
    "SlackChannelID",
    "SlackUserID",
    "SlackUsergroupID",
    "duration_problems",
    "settings_problems",
]


def _slack_id(kind: str, pattern: str, example: str) -> Callable[[str], str]:
    shape = re.compile(pattern)

    def check(value: str) -> str:
        if not shape.fullmatch(value):
            shown = value if len(value) <= 40 else value[:37] + "..."
            raise ValueError(f"{shown!r} is not a Slack {kind} ID (like {example})")
        return value

    return check


# Slack's IDs: upper-case letters and digits after a one-letter kind. A name (`@lead`, `#ops`)
# or a lower-cased ID would never match anyone, so it is refused instead of silently ignored.
SlackUserID = Annotated[str, AfterValidator(_slack_id("user", r"[UW][A-Z0-9]{2,}", "U012LEAD1"))]
SlackUsergroupID = Annotated[
    str, AfterValidator(_slack_id("user group", r"S[A-Z0-9]{2,}", "S0SRELEADS"))
]
SlackChannelID = Annotated[
    str, AfterValidator(_slack_id("channel", r"[CG][A-Z0-9]{2,}", "C0INCIDENT"))
]

_S = timedelta(seconds=1)
_MIN = timedelta(minutes=1)


def _show(value: timedelta) -> str:
    seconds = value.total_seconds()
    if seconds < 60 and seconds != int(seconds):
        return f"{seconds * 1000:g}ms" if seconds < 1 else f"{seconds:g}s"
    return format_duration(value)


def _at_least(name: str, value: timedelta, floor: timedelta, why: str) -> list[str]:
    if value >= floor:
        return []
    return [f"{name} is {_show(value)}; it must be at least {_show(floor)} {why}"]


def _at_most(name: str, value: timedelta, ceiling: timedelta, why: str) -> list[str]:
    if value <= ceiling:
        return []
    return [f"{name} is {_show(value)}; it must be at most {_show(ceiling)} {why}"]


def duration_problems(bot: BotConfig) -> list[str]:
    """Durations that are positive (the parser sees to that) but could not work as set."""
    w, a, r = bot.watch, bot.approval, bot.recovery
    out = [
        *_at_least("watch.interval", w.interval, _S, "(polling faster only spends the API budget)"),
        *_at_least("watch.fast_interval", w.fast_interval, _S, "(the same API budget)"),
        *_at_most(
            "watch.fast_interval",
            w.fast_interval,
            w.interval,
            "(watch.interval): the fast cadence cannot be slower than the normal one",
        ),
        *_at_least(
            "watch.outage_warning_after",
            w.outage_warning_after,
            w.interval,
            "(watch.interval): failures are only seen once per poll",
        ),
        *_at_least(
            "watch.max_duration",
            w.max_duration,
            w.interval,
            "(watch.interval), or a watch would stop before its first poll",
        ),
        *_at_least(
            "watch.rollback_grace",
            w.rollback_grace,
            w.interval,
            "(watch.interval), or a Rollback would be given up before a poll could see it",
        ),
        *_at_least("approval.expires_after", a.expires_after, _MIN, "(time to find an approver)"),
        *_at_least(
            "recovery.lease",
            r.lease,
            3 * _S,
            "(it is renewed a third of it apart, over the network)",
        ),
        *_at_most(
            "recovery.lease",
            r.lease,
            5 * _MIN,
            "(after a crash, the flow waits that long to go on)",
        ),
        *_at_least(
            "recovery.give_up_after",
            r.give_up_after,
            2 * r.lease,
            "(twice recovery.lease), or work would be given up before anyone could take it over",
        ),
        *_at_most(
            "cce.cluster_cache",
            bot.cce.cluster_cache,
            60 * _MIN,
            "(a cluster renamed or added later would stay unknown that long)",
        ),
    ]
    if bot.alerts is not None:
        out += _at_least(
            "alerts.interval", bot.alerts.interval, 10 * _S, "(each look lists every workflow)"
        )
        out += _at_least(
            "alerts.stalled_after",
            bot.alerts.stalled_after,
            bot.alerts.interval,
            "(alerts.interval): a stall is only seen once per look",
        )
    return out


def alerts_problems(bot: BotConfig) -> list[str]:
    """An alert's Request cancel… posts the request in the alerts channel: it must be allowed."""
    alerts, allowed = bot.alerts, bot.channels
    if alerts is None or allowed is None or alerts.channel in allowed:
        return []
    return [
        f"alerts.channel {alerts.channel} is not in channels: add it there, or a cancel "
        "requested from an alert could not be posted"
    ]


def settings_problems(settings: Settings, *, http_mode: bool) -> list[str]:
    """LOG_LEVEL and the ports."""
    out = []
    if settings.log_level.upper() not in LOG_LEVELS:
        out.append(f"LOG_LEVEL {settings.log_level!r} is not one of {', '.join(LOG_LEVELS)}")
    for name, port in (("PORT", settings.port), ("OPS_PORT", settings.ops_port)):
        if not 1 <= port <= 65535:
            out.append(f"{name} {port} is not a TCP port (1 to 65535)")
    # In Socket Mode PORT is not opened, so only OPS_PORT is listened on.
    if http_mode and settings.ops_port == settings.port:
        out.append(
            f"OPS_PORT and PORT are both {settings.port}: health and metrics must not share the "
            "public Slack port"
        )
    return out
