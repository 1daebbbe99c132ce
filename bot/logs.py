"""Logging, configured once by the CLI: console lines for people, JSON lines for machines.

Each record is an event name plus `extra` fields (approval_id, workflow_id, request_id, …).
httpx/httpcore log every request, so they are held at WARNING. Every configured secret is
redacted from the finished line, whatever put it there: the message, its args, an `extra` field
(any type), an exception's text or traceback, or a stack. Imports nothing from the bot.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

__all__ = ["LOG_LEVELS", "ConsoleFormatter", "JSONFormatter", "Redacting", "configure_logging"]

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}
REDACTED = "***"


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD}


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
            **_extras(record),
        }
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            data["stack"] = self.formatStack(record.stack_info)
        return json.dumps(data, default=str)


class ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(f"{k}={v}" for k, v in _extras(record).items())
        line = f"{self.formatTime(record, '%H:%M:%S')} {record.levelname:<7} {record.getMessage()}"
        if extras:
            line += f" {extras}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


class Redacting(logging.Formatter):
    """Wraps a formatter and replaces every secret in its finished line with `***`.

    Redacting the output, not the record, leaves nothing that is formatted outside the redaction
    (tracebacks, stacks, str() of any `extra` value). Each secret is also looked for as JSON and
    `repr()` escape it, so a secret with a quote, a backslash or non-ASCII text in it cannot slip
    through a JSON line or a traceback's repr. Longest first, so a secret that contains another
    is replaced whole.
    """

    def __init__(self, inner: logging.Formatter, secrets: Iterable[str]) -> None:
        super().__init__()
        self.inner = inner
        forms = set()
        for secret in secrets:
            if secret:
                forms |= {
                    secret,
                    json.dumps(secret)[1:-1],
                    json.dumps(secret, ensure_ascii=False)[1:-1],
                    repr(secret)[1:-1],
                }
        self._forms = sorted(forms, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for form in self._forms:
            text = text.replace(form, REDACTED)
        return text

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(self.inner.format(record))


def configure_logging(
    level: str = "INFO", fmt: str = "console", secrets: Iterable[str] = ()
) -> None:
    """Log to stderr as `fmt` at `level` (one of `LOG_LEVELS`, any case), secrets redacted."""
    handler = logging.StreamHandler(sys.stderr)
    inner = JSONFormatter() if fmt == "json" else ConsoleFormatter()
    handler.setFormatter(Redacting(inner, secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "apscheduler", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
