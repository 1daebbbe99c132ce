"""People acting in Slack on an app: each action is the request Slack would send the app (a
slash command, a click, a pick in a modal, a submission, an event), with a trigger id the
stand-in issued, delivered through the `deliver` function given (a signed POST, usually).

`Stack` uses it on the running bot; tests use it on any Bolt app. Imports nothing from the rest of
the bot.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from bot.standin.event_requests import app_home_opened_event, event_callback_body
from bot.standin.records import Message
from bot.standin.slack_api import FakeSlack
from bot.standin.slack_requests import block_actions_body, slash_command_body
from bot.standin.view_requests import (
    block_suggestion_body,
    view_block_actions_body,
    view_submission_body,
)

__all__ = ["People"]

Deliver = Callable[[bytes], Awaitable[httpx.Response]]


class People:
    """Users of the workspace `slack` stands in for, acting on the app `deliver` reaches.

    Actions that get a `response_url` return the HTTP answer and the url's name (see
    `responses`); the others return the HTTP answer.
    """

    def __init__(self, slack: FakeSlack, deliver: Deliver) -> None:
        self._slack = slack
        self._deliver = deliver
        self._n = itertools.count()

    def responses(self, name: str) -> list[dict[str, Any]]:
        """What the app sent to one response_url, in order."""
        return [r for r in self._slack.responses if r.get("_name") == name]

    async def command(
        self,
        text: str,
        *,
        user: str = "U0REQUEST1",
        channel: str = "C0INCIDENT",
        command: str = "/cce-upgrade",
    ) -> tuple[httpx.Response, str]:
        """Type `<command> <text>` in `channel`."""
        name = f"cmd-{next(self._n)}"
        body = slash_command_body(
            text,
            user_id=user,
            channel_id=channel,
            command=command,
            response_url=self._slack.response_url(name),
            trigger_id=self._slack.new_trigger_id(user),
        )
        return await self._deliver(body), name

    async def click(
        self,
        action_id: str,
        value: str,
        *,
        user: str,
        channel: str,
        message_ts: str,
        message: dict[str, Any] | None = None,
        block_id: str = "approval",
    ) -> tuple[httpx.Response, str]:
        """Click button `action_id` on the message at (channel, message_ts), shown as
        `message` (a bare bot message when None)."""
        name = f"act-{next(self._n)}"
        body = block_actions_body(
            action_id=action_id,
            value=value,
            user_id=user,
            channel_id=channel,
            message_ts=message_ts,
            response_url=self._slack.response_url(name),
            block_id=block_id,
            message=message,
            trigger_id=self._slack.new_trigger_id(user),
        )
        return await self._deliver(body), name

    async def click_button(
        self, message: Message, action_id: str, value: str, *, user: str
    ) -> tuple[httpx.Response, str]:
        """Click a button on a posted message, as the client shows the message now."""
        return await self.click(
            action_id,
            value,
            user=user,
            channel=message.channel,
            message_ts=message.ts,
            message=message.as_payload(),
            block_id=_block_of(message.blocks, action_id),
        )

    async def event_home_opened(self, user: str) -> httpx.Response:
        """`user` opens the app's Home tab: an `app_home_opened` event, carrying the Home view
        the app last published for them."""
        event = app_home_opened_event(user, view=self._slack.home(user))
        return await self._deliver(event_callback_body(event))

    async def suggest(
        self, view_id: str, action_id: str, block_id: str, typed: str, *, user: str | None = None
    ) -> Any:
        """Type `typed` into an external select of an open view; returns the app's JSON answer
        (such as `{"options": [...]}`). `user` defaults to whom the view was opened for."""
        body = block_suggestion_body(
            view=self._slack.fill_view(view_id),
            action_id=action_id,
            block_id=block_id,
            value=typed,
            user_id=self._user_of(view_id, user),
        )
        response = await self._deliver(body)
        response.raise_for_status()
        return response.json()

    async def select(
        self, view_id: str, action_id: str, block_id: str, option: Any, *, user: str | None = None
    ) -> httpx.Response:
        """Pick `option` (an option object, or a value looked up among the element's options)
        in a select inside an open view, or click a button there (`option` its value)."""
        user_id = self._user_of(view_id, user)
        body = view_block_actions_body(
            view=self._slack.fill_view(view_id, {block_id: {action_id: option}}),
            action_id=action_id,
            block_id=block_id,
            value=option,
            user_id=user_id,
            trigger_id=self._slack.new_trigger_id(user_id),
        )
        return await self._deliver(body)

    async def submit(
        self,
        view: str | dict[str, Any],
        values: dict[str, dict[str, Any]] | None = None,
        *,
        user: str | None = None,
    ) -> httpx.Response:
        """Enter `values` ({block_id: {action_id: value}}) and submit a modal (its id, or a view
        object); returns the HTTP answer, whose JSON Slack reads `response_action`/`errors` from.
        The stand-in then does with a modal it knows what Slack would (closes it, ...)."""
        view_id = view if isinstance(view, str) else str(view.get("id", ""))
        known = view_id in self._slack.views
        if known:
            shown, entered = self._slack.fill_view(view_id, values), None
        elif isinstance(view, dict):
            shown, entered = view, values
        else:
            raise KeyError(f"no view {view!r} on the Slack stand-in")
        user_id = self._user_of(view_id, user)
        body = view_submission_body(
            view=shown,
            user_id=user_id,
            values=entered,
            trigger_id=self._slack.new_trigger_id(user_id),
        )
        response = await self._deliver(body)
        if known:
            self._slack.apply_submission_response(view_id, response.status_code, _json(response))
        return response

    def _user_of(self, view_id: str, user: str | None) -> str:
        if user is not None:
            return user
        record = self._slack.views.get(view_id)
        if record is None or record.user is None:
            raise ValueError(f"say which user acts on view {view_id!r}")
        return record.user


def _block_of(blocks: list[Any], action_id: str) -> str:
    """The block_id of the block holding `action_id` (Slack's payload names it)."""
    for block in blocks:
        elements = [*(block.get("elements") or []), block.get("accessory") or {}]
        if any(e.get("action_id") == action_id for e in elements if isinstance(e, dict)):
            return str(block.get("block_id", ""))
    return ""


def _json(response: httpx.Response) -> Any:
    """The response's JSON body, or None when it has none (an empty ack)."""
    try:
        return response.json() if response.content else None
    except ValueError:
        return None
