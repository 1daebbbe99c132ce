"""No configured secret reaches a log line, whichever way it is handed to the logger."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator

import pytest

from bot.__main__ import _secret_values
from bot.config import Settings
from bot.logs import configure_logging

# One of each secret the bot can be given; tests/test_ops.py runs a whole flow with them too.
SECRETS = {
    "slack_bot_token": "xoxb-9081726354-1122334455-AbCdEfGhIjKlMnOpQrStUvWx",
    "slack_signing_secret": "8f3c1a9e7b2d4f6a0c5e9b1d3f7a2c4e",
    "slack_app_token": "xapp-1-A0123456789-9081726354-0a1b2c3d4e5f",
    "cloud_sdk_ak": "HPUAQ7Z2K9XWLM4RT8EV",
    "cloud_sdk_sk": "Vb7Qx2Lr9Tz4Kp8Mw3Nc6Hd1Fs5Gj0Ya2Ue7Io9",
    "cloud_sdk_security_token": "gQpzdS1ub3J0aC00Eu8bMbXjQ2NZ0aJ7H4c0",
    "cce_auth_token": "MIIZeAYJKoZIhvcNAQcCoIIZaTCCGWUCAQExDTALBglghkgBZQMEAgEwghe",
    "metrics_token": "mt-4c0a9d7e2b1f6a3c8e5d",
}


# A secret with a quote, a backslash and non-ASCII text: JSON and repr() escape those, so the
# raw string would not match in their output while the escaped one still shows the secret.
AWKWARD = 'sk-"quoted"\\back-slashé'


class Holder:
    """Not a string: it reaches a line through str()."""

    def __init__(self, value: str) -> None:
        self.value = value

    def __str__(self) -> str:
        return f"Holder({self.value})"


def _raise(secret: str) -> None:
    token = secret  # a local in the traceback's frame, shown by some formatters
    raise RuntimeError(f"the API refused {token}")


def _log_everything(logger: logging.Logger, secret: str) -> None:
    """Every path into a log line: message, args, extra (str and not), exception, stack."""
    logger.info(f"event.message {secret}")
    logger.info("event.args %s %r", secret, secret)
    logger.info("event.extra", extra={"status": secret, "detail": Holder(secret), "n": [secret]})
    try:
        _raise(secret)
    except RuntimeError:
        logger.exception("event.exception")
        logger.warning("event.exc_info", exc_info=True, extra={"status": secret})
    try:
        raise ValueError(secret) from RuntimeError(secret)
    except ValueError as exc:
        logger.error("event.chained", exc_info=exc)
    logger.info("event.stack %s", secret, stack_info=True)


@pytest.fixture
def capture() -> Iterator[Callable[[str, list[str]], io.StringIO]]:
    """Configure logging as `run` does, into a buffer; restore the root logger afterwards."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)

    def configure(fmt: str, secrets: list[str]) -> io.StringIO:
        buffer = io.StringIO()
        configure_logging("DEBUG", fmt, secrets)
        root.handlers[0].stream = buffer  # type: ignore[attr-defined]
        return buffer

    yield configure
    root.handlers[:], _ = saved
    root.setLevel(saved[1])


def test_every_configured_secret_is_on_the_redaction_list() -> None:
    """`_secret_values` covers each of SPEC §7's secrets, the AK and METRICS_TOKEN included."""
    assert sorted(SECRETS.values()) == sorted(_secret_values(Settings(**SECRETS)))


@pytest.mark.parametrize("fmt", ["console", "json"])
@pytest.mark.parametrize("name", [*SECRETS, "awkward"])
def test_no_secret_in_any_log_path(
    capture: Callable[[str, list[str]], io.StringIO], fmt: str, name: str
) -> None:
    secret = AWKWARD if name == "awkward" else SECRETS[name]
    values = {**SECRETS, "cloud_sdk_sk": secret} if name == "awkward" else SECRETS
    buffer = capture(fmt, _secret_values(Settings(**values)))
    _log_everything(logging.getLogger("bot.test"), secret)
    text = buffer.getvalue()
    for form in {secret, json.dumps(secret)[1:-1], repr(secret)[1:-1]}:
        assert form not in text
    assert text.count("***") >= 10  # each path was logged, and redacted
    for event in ("event.message", "event.args", "event.extra", "event.exception"):
        assert event in text
    assert "Traceback" in text and "_raise" in text  # the traceback was written
    assert "Stack (most recent call last)" in text  # and the stack
    if fmt == "json":
        lines = [json.loads(line) for line in text.splitlines()]  # still valid JSON
        assert {"exception", "stack"} <= set().union(*lines)
