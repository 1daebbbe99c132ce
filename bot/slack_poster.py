"""Posting to Slack through the Web API, with Slack's refusals turned into one typed error.

The only module besides the handlers that talks to Slack; the flow and the watcher use it
through this small interface, so they never see a Slack payload.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

__all__ = ["Poster", "SlackPostError", "SlackPoster"]

logger = logging.getLogger(__name__)

# Errors that mean "the bot cannot post in this channel" and how the user fixes them.
CHANNEL_FIXES = {
    "not_in_channel": "The bot is not a member of this channel: invite it with `/invite @cce-upgrade-bot` and try again.",  # noqa: E501
    "channel_not_found": "The bot cannot see this channel (a private channel or DM?): invite it with `/invite @cce-upgrade-bot` and try again.",  # noqa: E501
    "is_archived": "This channel is archived; run the command in an active channel.",
}


class SlackPostError(Exception):
    """Slack refused a call; `error` is Slack's code (e.g. `not_in_channel`)."""

    def __init__(self, method: str, error: str) -> None:
        super().__init__(f"Slack refused {method}: {error}")
        self.method = method
        self.error = error

    @property
    def fix(self) -> str | None:
        return CHANNEL_FIXES.get(self.error)


class Poster(Protocol):
    async def post(
        self,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
    ) -> str: ...

    async def update(
        self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None = None
    ) -> None: ...

    async def ephemeral(self, channel: str, user: str, text: str) -> None: ...


class SlackPoster:
    """`Poster` over slack_sdk's AsyncWebClient (rate-limit retries are set on the client)."""

    def __init__(self, client: AsyncWebClient, *, on_error: Any = None) -> None:
        self._client = client
        self._on_error = on_error

    async def _call(self, method: str, **params: Any) -> Any:
        try:
            return await self._client.api_call(method, json=params)
        except SlackApiError as exc:
            error = str(exc.response.get("error") or exc.response.status_code)
            logger.warning("slack.call.failed", extra={"method": method, "status": error})
            if self._on_error is not None:
                self._on_error(method, error)
            raise SlackPostError(method, error) from exc

    async def post(
        self,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
    ) -> str:
        params: dict[str, Any] = {"channel": channel, "text": text}
        if blocks is not None:
            params["blocks"] = blocks
        if thread_ts is not None:
            params["thread_ts"] = thread_ts
        response = await self._call("chat.postMessage", **params)
        return str(response["ts"])

    async def update(
        self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None = None
    ) -> None:
        params: dict[str, Any] = {"channel": channel, "ts": ts, "text": text}
        if blocks is not None:
            params["blocks"] = blocks
        await self._call("chat.update", **params)

    async def ephemeral(self, channel: str, user: str, text: str) -> None:
        await self._call("chat.postEphemeral", channel=channel, user=user, text=text)
