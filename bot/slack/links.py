"""Links to messages, for the Home tab's "open the thread": Slack's permalink shape,
`<workspace url>archives/<channel>/p<ts without the dot>`, on the workspace URL `auth.test`
reports (asked once; asked again next time when it failed).

Only ids that have Slack's shape are put into a link.
"""

from __future__ import annotations

import logging
import re

import aiohttp
from slack_sdk.errors import SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

__all__ = ["WorkspaceLinks"]

logger = logging.getLogger(__name__)

_CHANNEL = re.compile(r"[CGD][A-Z0-9]{2,30}")
_TS = re.compile(r"[0-9]{1,12}\.[0-9]{6}")
_URL = re.compile(r"https://[A-Za-z0-9.-]+/")


class WorkspaceLinks:
    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client
        self._base: str | None = None

    async def message(self, channel_id: str, ts: str) -> str | None:
        """The permalink of a message, or None when it cannot be made (Slack not answering)."""
        if not _CHANNEL.fullmatch(channel_id) or not _TS.fullmatch(ts):
            return None
        base = await self._workspace()
        return None if base is None else f"{base}archives/{channel_id}/p{ts.replace('.', '')}"

    async def _workspace(self) -> str | None:
        if self._base is None:
            try:
                response = await self._client.auth_test()
            except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
                logger.warning("slack.links.unavailable", extra={"status": type(exc).__name__})
                return None
            url = str(response.get("url") or "")
            self._base = url if _URL.fullmatch(url) else ""  # "": Slack gave none we can use
        return self._base or None
