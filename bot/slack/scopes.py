"""Which Slack bot scopes the bot needs, and a start-up check of what the token was granted.

Pure but for `check_scopes`, which only reads `auth.test`'s `x-oauth-scopes` header. A missing
scope is logged once at start, by name and with what stops working, instead of surfacing later
as a `missing_scope` in the middle of an incident.
"""

from __future__ import annotations

import logging

from slack_sdk.web.async_client import AsyncWebClient

__all__ = ["NEEDED", "check_scopes", "missing_scopes"]

logger = logging.getLogger(__name__)

NEEDED = {
    "commands": "the /cce-upgrade command",
    "chat:write": "posting requests, updates and thread replies",
    "usergroups:read": "approvers named by user group",
    "channels:history": "finding a post whose answer was lost (public channels), so it is not sent twice",  # noqa: E501
    "groups:history": "finding a post whose answer was lost (private channels), so it is not sent twice",  # noqa: E501
    "users:read": "`doctor` checking that every approver user exists and is active",
    "channels:read": "`doctor` checking that the bot is in each listed public channel",
    "groups:read": "`doctor` checking that the bot is in each listed private channel",
}


def missing_scopes(granted: str) -> list[str]:
    """The needed scopes absent from a comma-separated `x-oauth-scopes` value, in NEEDED order."""
    have = {s.strip() for s in granted.split(",") if s.strip()}
    return [scope for scope in NEEDED if scope not in have]


async def check_scopes(client: AsyncWebClient) -> list[str]:
    """Log each needed scope the token lacks; never raises (Slack may be unreachable)."""
    try:
        response = await client.auth_test()
    except Exception as exc:  # a start-up courtesy: the bot runs without it
        logger.warning("slack.scopes.unchecked", extra={"status": type(exc).__name__})
        return []
    granted = response.headers.get("x-oauth-scopes")  # aiohttp's headers: any case matches
    if granted is None:
        return []
    absent = missing_scopes(str(granted))
    for scope in absent:
        logger.warning(
            "slack.scopes.missing",
            extra={"status": scope, "detail": f"without it: {NEEDED[scope]}"},
        )
    return absent
