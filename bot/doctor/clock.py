"""The clock-skew verdict: this host's clock against the API gateway's `Date` header.

The gateway refuses an AK/SK signature whose `X-Sdk-Date` is more than 15 minutes from its own
clock, so a drifting host clock turns every API call into `APIGW.0301` at once. Thresholds:
within 1 min passes; 1–5 min passes with a warning; beyond 5 min fails, well before the 15 min
at which the gateway starts refusing. The `Date` header has whole seconds, so the measure is
good to about a second plus the request's latency. Pure: the times are passed in.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.doctor.checks import Check

__all__ = [
    "CLOCK_FIX",
    "FAIL_AFTER",
    "GATEWAY_LIMIT",
    "WARN_AFTER",
    "beyond_gateway_limit",
    "skew_check",
    "skew_of",
    "skew_words",
]

WARN_AFTER = timedelta(minutes=1)
FAIL_AFTER = timedelta(minutes=5)
GATEWAY_LIMIT = timedelta(minutes=15)  # the API gateway's limit for a signature's X-Sdk-Date
_HALF_SECOND = timedelta(milliseconds=500)
CLOCK_FIX = (
    "sync this host's clock with NTP (e.g. `timedatectl set-ntp true`, or chrony); in a "
    "container the clock is the node's"
)


def _span(delta: timedelta) -> str:
    seconds = round(abs(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def skew_words(skew: timedelta) -> str:
    """`the gateway's clock is 20 min 3 s ahead of this host's` (or behind)."""
    if abs(skew) < timedelta(seconds=1):
        return "the gateway's clock and this host's agree to the second"
    side = "ahead of" if skew > timedelta(0) else "behind"
    return f"the gateway's clock is {_span(skew)} {side} this host's"


def skew_of(server_date: datetime, seen_at: datetime) -> timedelta:
    """How far the gateway's clock is ahead of this host's (negative: behind).

    `Date` drops the fraction of its second, so its middle (+0.5 s) is the better estimate.
    """
    return server_date + _HALF_SECOND - seen_at


def beyond_gateway_limit(server_date: datetime | None, seen_at: datetime) -> bool:
    """Whether the gateway would refuse a signature made now on this host for its age."""
    return server_date is not None and abs(skew_of(server_date, seen_at)) > GATEWAY_LIMIT


def skew_check(name: str, server_date: datetime, seen_at: datetime, *, signed: bool) -> Check:
    """The verdict for `server_date` (the answer's `Date`) read at `seen_at` (this host's clock).

    `signed`: the bot uses AK/SK, whose signatures the gateway refuses beyond 15 min.
    """
    skew = skew_of(server_date, seen_at)
    words = skew_words(skew)
    limit = "AK/SK signatures more than 15 min off are refused"
    if abs(skew) > GATEWAY_LIMIT and signed:
        return Check.failed(
            name, f"{words}: every signed API call is refused now ({limit})", CLOCK_FIX
        )
    consequence = limit if signed else "times the bot shows and compares will be off"
    if abs(skew) > FAIL_AFTER:
        return Check.failed(name, f"{words}, more than 5 min ({consequence})", CLOCK_FIX)
    if abs(skew) > WARN_AFTER:
        return Check.warned(name, f"{words}, more than 1 min ({consequence})", CLOCK_FIX)
    return Check.passed(name, f"{words} (within 1 min)")
