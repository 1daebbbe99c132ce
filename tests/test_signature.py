"""Slack's request signature at the HTTP door: every refusal is a 401 and one log line saying why.

Signed requests go over loopback into the running bot (simulator + Slack stand-in); the log line
is `slack.signature.invalid` with a `reason`, and never carries the signature or the secret.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncIterator, Callable

import pytest

from bot.simulator import RunningSimulator
from bot.standin.slack_requests import sign, slash_command_body
from bot.standin.stack import SIGNING_SECRET, Stack, running_stack
from tests.e2e import WF_FAILED, bot_yaml

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
HEX = "0123456789abcdef" * 4  # 64 lowercase hex digits, the right shape, the wrong value

Headers = dict[str, str | bytes]


@pytest.fixture
async def stack(sim: RunningSimulator, sqlite_url: str) -> AsyncIterator[Stack]:
    async with running_stack(sim, sqlite_url, bot_yaml()) as stack:
        yield stack


def events_url(stack: Stack) -> str:
    assert stack.server is not None
    return stack.server.url + "/slack/events"


def _body(stack: Stack) -> bytes:
    url = stack.slack.response_url("sig")
    return slash_command_body(f"cancel prod-eu {WF_FAILED} disk pressure", response_url=url)


def _good(body: bytes) -> Headers:
    return dict(sign(body, SIGNING_SECRET))


def _with(**changes: str | bytes | None) -> Callable[[bytes], Headers]:
    """Good headers with some replaced (None: left out)."""

    def make(body: bytes) -> Headers:
        headers = _good(body)
        for name, value in changes.items():
            header = {"sig": "X-Slack-Signature", "ts": "X-Slack-Request-Timestamp"}[name]
            if value is None:
                del headers[header]
            else:
                headers[header] = value
        return headers

    return make


def _resigned(*, secret: str = SIGNING_SECRET, skew: int = 0) -> Callable[[bytes], Headers]:
    def make(body: bytes) -> Headers:
        now = time.time()
        at = math.floor(now) + skew if skew <= 0 else math.ceil(now) + skew
        return dict(sign(body, secret, at))

    return make


CASES: dict[str, tuple[Callable[[bytes], Headers], str]] = {
    "signature-missing": (_with(sig=None), "bad format"),
    "timestamp-missing": (_with(ts=None), "bad format"),
    "signature-empty": (_with(sig=""), "bad format"),
    "signature-short": (_with(sig="v0=" + HEX[:-1]), "bad format"),
    "signature-long": (_with(sig="v0=" + HEX + "0"), "bad format"),
    "signature-upper-case": (_with(sig="v0=" + HEX.upper()), "bad format"),
    "signature-v1": (_with(sig="v1=" + HEX), "bad format"),
    "signature-space": (_with(sig="v0=" + HEX[:32] + " " + HEX[33:]), "bad format"),
    "signature-non-ascii": (_with(sig=("v0=" + "é" * 64).encode()), "bad format"),
    "signature-non-ascii-digits": (_with(sig=("v0=" + "٣" * 64).encode()), "bad format"),
    "timestamp-letters": (_with(ts="abc"), "bad format"),
    "timestamp-fraction": (_with(ts="1700000000.5"), "bad format"),
    "timestamp-negative": (_with(ts="-1700000000"), "bad format"),
    "timestamp-non-ascii-digits": (_with(ts="١٧٠٠٠٠٠٠٠٠".encode()), "bad format"),
    "stale-301s": (_resigned(skew=-301), "stale"),
    "future-301s": (_resigned(skew=301), "stale"),
    "timestamp-zero": (_with(ts="0"), "stale"),
    "forged": (_with(sig="v0=" + HEX), "mismatch"),
    "wrong-secret": (_resigned(secret="not-the-secret"), "mismatch"),
}


def _refusals(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == "slack.signature.invalid"]


@pytest.mark.parametrize("case", list(CASES))
async def test_bad_signature_is_401_with_one_log_line_and_its_reason(
    stack: Stack, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.slack.door")
    make, reason = CASES[case]
    body = _body(stack)
    headers = make(body)
    response = await stack.http.post(events_url(stack), content=body, headers={**FORM, **headers})
    assert 401 == response.status_code
    [line] = _refusals(caplog)
    assert reason == getattr(line, "reason", None)
    assert logging.WARNING == line.levelno
    logged = repr(line.__dict__)
    assert SIGNING_SECRET not in logged
    signature = headers.get("X-Slack-Signature")
    if isinstance(signature, str) and signature:
        assert signature not in logged
    assert [] == stack.sim.world.calls  # nothing reached the API


async def test_a_body_that_is_not_utf8_is_refused_as_bad_format(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    """Slack only sends UTF-8; the verifier would raise on anything else, so it never sees it."""
    caplog.set_level(logging.WARNING, logger="bot.slack.door")
    body = b"text=\xff\xfe&command=%2Fcce-upgrade"
    headers = {
        **FORM,
        "X-Slack-Request-Timestamp": str(int(time.time())),
        "X-Slack-Signature": "v0=" + HEX,
    }
    response = await stack.http.post(events_url(stack), content=body, headers=headers)
    assert 401 == response.status_code
    assert ["bad format"] == [getattr(r, "reason", None) for r in _refusals(caplog)]


async def test_a_good_signature_passes_and_logs_no_refusal(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.slack.door")
    response = await stack.post(_body(stack))
    assert 200 == response.status_code
    assert [] == _refusals(caplog)


async def test_without_a_signing_secret_every_request_is_refused(
    sim: RunningSimulator, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """HTTP mode with no SLACK_SIGNING_SECRET (`check` refuses it; a bot built anyway must not
    trust anything): 401, reason `missing secret`."""
    caplog.set_level(logging.WARNING, logger="bot.slack.door")
    async with running_stack(sim, sqlite_url, bot_yaml(), slack_signing_secret=None) as stack:
        body = _body(stack)
        response = await stack.http.post(
            events_url(stack), content=body, headers={**FORM, **_good(body)}
        )
    assert 401 == response.status_code
    assert ["missing secret"] == [getattr(r, "reason", None) for r in _refusals(caplog)]
