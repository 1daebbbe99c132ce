"""Posting to Slack through the Web API, with Slack's refusals turned into one typed error.

The only module besides the handlers that talks to Slack; the flow and the watcher use it
through this small interface, so they never see a Slack payload.
"""

from __future__ import annotations

import copy
import logging
from typing import Any, Protocol

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncConnectionErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

__all__ = ["POST_EVENT_TYPE", "Poster", "SlackPostError", "SlackPostUncertain", "SlackPoster"]

logger = logging.getLogger(__name__)

# Errors that mean "the bot cannot post in this channel" and how the user fixes them.
CHANNEL_FIXES = {
    "not_in_channel": "The bot is not a member of this channel: invite it with `/invite @cce-upgrade-bot` and try again.",  # noqa: E501
    "channel_not_found": "The bot cannot see this channel (a private channel or DM?): invite it with `/invite @cce-upgrade-bot` and try again.",  # noqa: E501
    "is_archived": "This channel is archived; run the command in an active channel.",
}


POST_EVENT_TYPE = "cce_upgrade_bot_post"
"""The message-metadata event type on posts that carry a key (see `Poster.find_reply`)."""
REPLIES_PAGE = 200
REPLIES_PAGES = 10  # a thread this long is past anything the bot posts into


class SlackPostError(Exception):
    """Slack refused a call; `error` is Slack's code (e.g. `not_in_channel`)."""

    def __init__(self, method: str, error: str) -> None:
        super().__init__(f"Slack refused {method}: {error}")
        self.method = method
        self.error = error

    @property
    def fix(self) -> str | None:
        return CHANNEL_FIXES.get(self.error)


class SlackPostUncertain(Exception):
    """A keyed post's answer was lost (connection dropped, timeout): Slack may have taken it."""

    def __init__(self, method: str, cause: str) -> None:
        super().__init__(f"no answer from Slack to {method}: {cause}")
        self.method = method


class Poster(Protocol):
    async def post(
        self,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
        key: str | None = None,
    ) -> str: ...

    async def find_reply(self, channel: str, thread_ts: str, key: str) -> str | None:
        """The ts of this bot's reply in the thread posted with `key`, or None."""
        ...

    async def find_message(self, channel: str, key: str, oldest: float | None = None) -> str | None:
        """The ts of this bot's recent channel message posted with `key`, or None."""
        ...

    async def update(
        self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None = None
    ) -> None: ...

    async def ephemeral(self, channel: str, user: str, text: str) -> None: ...


class SlackPoster:
    """`Poster` over slack_sdk's AsyncWebClient (rate-limit retries are set on the client)."""

    def __init__(self, client: AsyncWebClient, *, on_error: Any = None) -> None:
        self._client = client
        self._on_error = on_error
        self._me: frozenset[str] | None = None  # this bot's user id and bot id (auth.test)

    async def _identity(self) -> frozenset[str]:
        """Who "this bot" is, asked once: only its own messages' metadata is trusted."""
        if self._me is None:
            try:
                response = await self._send("auth.test", self._client)
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise SlackPostUncertain("auth.test", type(exc).__name__) from None
            self._me = frozenset(
                str(response.get(k)) for k in ("user_id", "bot_id") if response.get(k)
            )
        return self._me

    async def _call(self, method: str, **params: Any) -> Any:
        return await self._send(method, self._client, json=params)

    async def _send(self, method: str, client: AsyncWebClient, **body: Any) -> Any:
        try:
            return await client.api_call(method, **body)
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
        key: str | None = None,
    ) -> str:
        """Post and return the message's ts. `key` rides along as message metadata, so that
        `find_reply` can tell later whether Slack took a post whose answer never arrived."""
        params: dict[str, Any] = {"channel": channel, "text": text}
        if blocks is not None:
            params["blocks"] = blocks
        if thread_ts is not None:
            params["thread_ts"] = thread_ts
        if key is None:
            response = await self._call("chat.postMessage", **params)
            return str(response["ts"])
        params["metadata"] = {"event_type": POST_EVENT_TYPE, "event_payload": {"key": key}}
        try:
            response = await self._send("chat.postMessage", self._once_client(), json=params)
        except (aiohttp.ClientError, TimeoutError) as exc:
            logger.warning("slack.post.uncertain", extra={"status": type(exc).__name__})
            raise SlackPostUncertain("chat.postMessage", type(exc).__name__) from None
        return str(response["ts"])

    def _once_client(self) -> AsyncWebClient:
        """The client without its connection-error retries, for keyed posts.

        A dropped connection after Slack took a post is indistinguishable from one before; the
        SDK's retry would post it twice. A keyed post is settled by `find_reply` instead.
        Copied per call so it shares the client's current session.
        """
        client = copy.copy(self._client)
        client.retry_handlers = [
            h for h in client.retry_handlers if not isinstance(h, AsyncConnectionErrorRetryHandler)
        ]
        return client

    async def find_reply(self, channel: str, thread_ts: str, key: str) -> str | None:
        """Page through the thread's replies looking for this bot's reply carrying `key`.

        The whole thread, not "since when": Slack's clock and ours need not agree. It is only
        called after a lost answer or a restart cut a post short, and bot threads are short.
        """
        return await self._find("conversations.replies", {"channel": channel, "ts": thread_ts}, key)

    async def find_message(self, channel: str, key: str, oldest: float | None = None) -> str | None:
        """This bot's channel message carrying `key`, among the newest (a few pages, newest
        first, none older than `oldest` when given)."""
        where = {"channel": channel}
        if oldest is not None:
            where["oldest"] = f"{oldest:.6f}"
        return await self._find("conversations.history", where, key, pages=3)

    async def _find(
        self, method: str, where: dict[str, str], key: str, pages: int = REPLIES_PAGES
    ) -> str | None:
        """Needs `channels:history` (or `groups:history` in a private channel); without it Slack
        answers `missing_scope`, raised as `SlackPostError` like any refusal. A message carrying
        the key but posted by another app or a person does not count: anyone can post metadata.
        """
        me = await self._identity()
        cursor = ""
        for _ in range(pages):
            params = {**where, "include_all_metadata": "true", "limit": str(REPLIES_PAGE)}
            if cursor:
                params["cursor"] = cursor
            # A read method: form parameters, not a JSON body (Slack reads JSON only on writes).
            try:
                response = await self._send(method, self._client, data=params)
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise SlackPostUncertain(method, type(exc).__name__) from None
            for message in response.get("messages") or []:
                meta = message.get("metadata") or {}
                payload = meta.get("event_payload") or {}
                mine = bool(me & {str(message.get("bot_id")), str(message.get("user"))})
                if mine and meta.get("event_type") == POST_EVENT_TYPE and payload.get("key") == key:
                    return str(message["ts"])
            cursor = str((response.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                return None
        return None

    async def update(
        self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None = None
    ) -> None:
        params: dict[str, Any] = {"channel": channel, "ts": ts, "text": text}
        if blocks is not None:
            params["blocks"] = blocks
        await self._call("chat.update", **params)

    async def ephemeral(self, channel: str, user: str, text: str) -> None:
        await self._call("chat.postEphemeral", channel=channel, user=user, text=text)
