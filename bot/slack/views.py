"""Modals and the Home tab through the Web API: `views.open`, `views.update`, `views.publish`.

A small interface (`Views`) the parts use, like `Poster` for messages; Slack's refusals (an
expired trigger id, a view Slack finds invalid) and a lost answer are both raised as
`SlackPostError`: a view is shown or not, never settled later. `views.*` need no scope.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.poster import SlackPostError

__all__ = ["ShownView", "SlackViews", "Views"]

logger = logging.getLogger(__name__)

View = dict[str, Any]


@dataclass(frozen=True)
class ShownView:
    """The view as Slack answered it: its id, and its hash (for `views.update`)."""

    view_id: str
    hash: str | None = None


class Views(Protocol):
    async def open(self, trigger_id: str, view: View) -> ShownView: ...

    async def update(self, view_id: str, view: View, hash: str | None = None) -> ShownView: ...

    async def publish(self, user_id: str, view: View) -> None: ...


class SlackViews:
    """`Views` over slack_sdk's AsyncWebClient."""

    def __init__(
        self, client: AsyncWebClient, *, on_error: Callable[[str, str], None] | None = None
    ) -> None:
        self._client = client
        self._on_error = on_error

    async def open(self, trigger_id: str, view: View) -> ShownView:
        return await self._call("views.open", trigger_id=trigger_id, view=view)

    async def update(self, view_id: str, view: View, hash: str | None = None) -> ShownView:
        params: dict[str, Any] = {"view_id": view_id, "view": view}
        if hash:
            params["hash"] = hash
        return await self._call("views.update", **params)

    async def publish(self, user_id: str, view: View) -> None:
        await self._call("views.publish", user_id=user_id, view=view)

    async def _call(self, method: str, **params: Any) -> ShownView:
        try:
            response = await self._client.api_call(method, json=params)
        except SlackApiError as exc:
            error = str(exc.response.get("error") or exc.response.status_code)
            self._failed(method, error)
            raise SlackPostError(method, error) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._failed(method, type(exc).__name__)
            raise SlackPostError(method, type(exc).__name__) from exc
        shown = response.get("view") or {}
        return ShownView(str(shown.get("id", "")), shown.get("hash"))

    def _failed(self, method: str, error: str) -> None:
        logger.warning("slack.call.failed", extra={"method": method, "status": error})
        if self._on_error is not None:
            self._on_error(method, error)
