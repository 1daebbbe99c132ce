"""Reading the API's answers: an error status becomes a typed error, a body becomes a model.

Imports only the errors and the wire models.
"""

from __future__ import annotations

import json
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from bot.cce.errors import (
    CCEAuthError,
    CCEConflict,
    CCENotFound,
    CCERateLimited,
    CCEResponseInvalid,
    CCEServerError,
    CCEStatusError,
)
from bot.cce.models import ErrorBody

__all__ = ["parse", "parse_retry_after", "server_date", "status_error"]

_M = TypeVar("_M", bound=BaseModel)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After` header given in seconds; None when absent or not a number."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return max(seconds, 0.0)


def server_date(response: httpx.Response) -> datetime | None:
    """The gateway's clock, from the HTTP `Date` header (aware, UTC), if it sent a valid one."""
    value = response.headers.get("date")
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo is not None else None


def status_error(response: httpx.Response) -> CCEStatusError:
    """The typed error for an answer with status ≥ 400, with the API's code, message and id."""
    request_id = response.headers.get("x-request-id")
    try:
        body = ErrorBody.from_json(response.json())
    except (json.JSONDecodeError, UnicodeDecodeError):
        kind = response.headers.get("content-type", "unknown type").split(";")[0]
        body = ErrorBody(error_msg=f"the API answered with a non-JSON body ({kind})")
    code = response.status_code
    cls: type[CCEStatusError]
    if code in (401, 403):
        cls = CCEAuthError
    elif code == 404:
        cls = CCENotFound
    elif code in (400, 409):
        cls = CCEConflict
    elif code == 429:
        cls = CCERateLimited
    elif code >= 500:
        cls = CCEServerError
    else:
        cls = CCEStatusError
    error = cls(code, body.error_code, body.error_msg, request_id)
    error.server_date = server_date(response)
    if isinstance(error, CCERateLimited):
        error.retry_after = parse_retry_after(response.headers.get("retry-after"))
    return error


def parse(response: httpx.Response, model: type[_M]) -> _M:
    """The body as `model`, or `CCEResponseInvalid` carrying the status and request id."""
    request_id = response.headers.get("x-request-id")
    try:
        data: Any = response.json()
        return model.model_validate(data)
    except (json.JSONDecodeError, UnicodeDecodeError, ValidationError) as exc:
        raise CCEResponseInvalid(
            f"the API's answer is not a valid {model.__name__}",
            status=response.status_code,
            request_id=request_id,
        ) from exc
