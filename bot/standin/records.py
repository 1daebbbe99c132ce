"""What the Slack stand-in records: calls, messages and their edits, ephemerals, views, transcript
events.

Plain values and the fixed workspace ids they carry; the other stand-in modules fill them in.
Imports nothing from the rest of the bot.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

__all__ = [
    "APP_ID",
    "BOT_ID",
    "BOT_USER_ID",
    "OTHER_APP_ID",
    "OTHER_BOT_ID",
    "OTHER_USER_ID",
    "TEAM_ID",
    "Call",
    "Edit",
    "Ephemeral",
    "Event",
    "Message",
    "Params",
    "ViewRecord",
    "WaitTimeout",
]

BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
TEAM_ID = "T111"
APP_ID = "A111"
# Another app in the same workspace: `FakeSlack.add_foreign_message` posts as it by default.
OTHER_USER_ID = "UOTHER"
OTHER_BOT_ID = "BOTHER"
OTHER_APP_ID = "AOTHER"

Params = dict[str, Any]


class WaitTimeout(AssertionError, TimeoutError):
    """`FakeSlack.wait_for` gave up; the message lists what was recorded instead."""


@dataclass(frozen=True)
class Call:
    """One request the stand-in answered; `error` is None when it answered `ok: true`."""

    method: str
    params: Params
    headers: dict[str, str]
    at: float
    status: int = 200
    error: str | None = None
    http_method: str = "POST"

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Edit:
    """The text and blocks of a message after one `chat.update`."""

    text: str
    blocks: list[Any]
    at: float


@dataclass
class Message:
    """A message as it currently stands; `edits` holds each update in order.

    The poster is the bot itself unless `user`/`bot_id`/`app_id` say otherwise: a person's message
    has no `bot_id` and no `app_id`; another app's has its own ids.
    """

    channel: str
    ts: str
    text: str
    blocks: list[Any]
    thread_ts: str | None = None
    user: str = BOT_USER_ID
    edits: list[Edit] = field(default_factory=list)
    metadata: dict[str, Any] | None = None  # chat.postMessage `metadata`, as sent
    bot_id: str | None = BOT_ID
    app_id: str | None = APP_ID
    parent_user_id: str | None = None  # who posted the thread's parent, for a reply

    @property
    def by_the_bot(self) -> bool:
        """Posted by the bot itself (its auth.test identity)."""
        return self.bot_id == BOT_ID and self.user == BOT_USER_ID

    def as_payload(self, *, with_metadata: bool = False) -> dict[str, Any]:
        """The `message` object Slack puts in a block_actions payload for this message (and in
        `conversations.history`/`.replies`, which add `metadata` when asked to)."""
        payload: dict[str, Any] = {"type": "message", "ts": self.ts, "user": self.user}
        if self.bot_id is not None:
            payload["bot_id"] = self.bot_id
        if self.app_id is not None:
            payload["app_id"] = self.app_id
        payload.update({"team": TEAM_ID, "text": self.text, "blocks": self.blocks})
        if self.thread_ts is not None:
            payload["thread_ts"] = self.thread_ts
            if self.thread_ts != self.ts:
                payload["parent_user_id"] = self.parent_user_id or BOT_USER_ID
        if with_metadata and self.metadata is not None:
            payload["metadata"] = self.metadata
        return payload


class Ephemeral(NamedTuple):
    """One `chat.postEphemeral`: only `user` saw it, and it can't be updated."""

    channel: str
    user: str
    text: str
    blocks: list[Any]


@dataclass
class ViewRecord:
    """A modal or Home tab view as the bot last set it, with every version it set, oldest first.

    `values` is what the user has entered so far ({block_id: {action_id: element state}}), as
    Slack keeps it and sends it in `view.state.values`; `closed` is set when the modal went away.
    """

    id: str
    type: str  # "modal" or "home"
    user: str | None
    view: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    closed: bool = False

    @property
    def hash(self) -> str:
        return str(self.view.get("hash", ""))

    @property
    def callback_id(self) -> str:
        return str(self.view.get("callback_id", ""))


@dataclass(frozen=True)
class Event:
    """One visible thing, in order. `kind` is message, reply (the bot's or, per `user` and
    `extra["bot_id"]`, another poster's), update, ephemeral, response, or for views (`extra`
    names `view_id` and `callback_id`; `text` is the title): "modal opened", "modal pushed",
    "modal updated", "modal errors" (`extra["errors"]`), "modal closed", "home published"."""

    kind: str
    channel: str | None
    ts: str | None
    user: str | None
    text: str
    blocks: list[Any]
    thread_ts: str | None = None
    at: float = field(default_factory=time.time)
    extra: dict[str, Any] = field(default_factory=dict)
