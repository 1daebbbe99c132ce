"""What the Slack stand-in records: calls, messages and their edits, ephemerals, transcript events.

Plain values and the fixed workspace ids they carry; `slack_api` fills them in. Imports nothing
from the rest of the bot.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

__all__ = [
    "APP_ID",
    "BOT_ID",
    "BOT_USER_ID",
    "TEAM_ID",
    "Call",
    "Edit",
    "Ephemeral",
    "Event",
    "Message",
    "Params",
    "WaitTimeout",
]

BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
TEAM_ID = "T111"
APP_ID = "A111"

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
    """A message the bot posted, as it currently stands; `edits` holds each update in order."""

    channel: str
    ts: str
    text: str
    blocks: list[Any]
    thread_ts: str | None = None
    user: str = BOT_USER_ID
    edits: list[Edit] = field(default_factory=list)
    metadata: dict[str, Any] | None = None  # chat.postMessage `metadata`, as sent

    def as_payload(self, *, with_metadata: bool = False) -> dict[str, Any]:
        """The `message` object Slack puts in a block_actions payload for this message (and in
        `conversations.replies`, which adds `metadata` when asked to)."""
        payload: dict[str, Any] = {
            "type": "message",
            "ts": self.ts,
            "user": self.user,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "text": self.text,
            "blocks": self.blocks,
        }
        if self.thread_ts is not None:
            payload["thread_ts"] = self.thread_ts
            payload["parent_user_id"] = BOT_USER_ID
        if with_metadata and self.metadata is not None:
            payload["metadata"] = self.metadata
        return payload


class Ephemeral(NamedTuple):
    """One `chat.postEphemeral`: only `user` saw it, and it can't be updated."""

    channel: str
    user: str
    text: str
    blocks: list[Any]


@dataclass(frozen=True)
class Event:
    """One visible thing, in order: kind is message, reply, update, ephemeral or response."""

    kind: str
    channel: str | None
    ts: str | None
    user: str | None
    text: str
    blocks: list[Any]
    thread_ts: str | None = None
    at: float = field(default_factory=time.time)
    extra: dict[str, Any] = field(default_factory=dict)
