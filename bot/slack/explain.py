"""Plain words for CCE failures, always with Huawei's request id so an operator can open a ticket.

Never includes a traceback, a header or a credential.
"""

from __future__ import annotations

from bot.cce.errors import (
    CCEAuthError,
    CCECancelUnconfirmed,
    CCEError,
    CCEInvalidRequest,
    CCENotFound,
    CCEResponseInvalid,
    CCEStatusError,
    CCEThrottled,
    CCETLSError,
    CCETransportError,
)
from bot.slack.blocks import escape

__all__ = ["describe_cce_error"]


def _rid(exc: CCEError) -> str:
    return f" (request id `{escape(exc.request_id)}`)" if exc.request_id else ""


def describe_cce_error(exc: CCEError) -> str:
    """One or two sentences for Slack."""
    if isinstance(exc, CCEInvalidRequest):
        return f"That is not a valid request: {escape(str(exc))}."
    if isinstance(exc, CCEAuthError):
        return (
            f"The CCE API refused the bot's credentials: `{escape(exc.error_code or '?')}` "
            f"{escape(exc.error_msg or '')}{_rid(exc)}. Check CLOUD_SDK_AK/SK or CCE_AUTH_TOKEN "
            "and the IAM permissions."
        )
    if isinstance(exc, CCENotFound):
        return (
            f"The CCE API says it does not exist: `{escape(exc.error_code or '404')}` "
            f"{escape(exc.error_msg or '')}{_rid(exc)}."
        )
    if isinstance(exc, CCEStatusError):
        return (
            f"The CCE API answered HTTP {exc.status}: `{escape(exc.error_code or '?')}` "
            f"{escape(exc.error_msg or '')}{_rid(exc)}."
        )
    if isinstance(exc, CCECancelUnconfirmed):
        return (
            f"The cancel could not be confirmed: {escape(str(exc))}. Run `/cce-upgrade status` "
            "to see the workflow before trying again."
        )
    if isinstance(exc, CCETLSError):
        return (
            "The CCE API's certificate is not trusted, so nothing was sent to it. For a private "
            "endpoint, set `cce.ca_bundle` to its CA's certificate file."
        )
    if isinstance(exc, CCEThrottled):
        return (
            "The bot's request budget for the CCE API is spent, or the API asked it to slow "
            "down; nothing was sent. Try again in a minute."
        )
    if isinstance(exc, CCETransportError):
        return "The CCE API could not be reached (timeout or connection failure); try again."
    if isinstance(exc, CCEResponseInvalid):
        return f"The CCE API answered with something the bot could not read{_rid(exc)}."
    return f"The CCE call failed{_rid(exc)}."
