"""The state of the stand-in's Slack workspace: channels, users, user groups, messages, ephemerals,
views and the transcript, with the small operations the Web API methods and tests share.

`FakeSlack` is a `Workspace` served over HTTP. Imports nothing from the rest of the bot.
"""

from __future__ import annotations

import json
import time
from typing import Any

from bot.standin.records import (
    BOT_USER_ID,
    OTHER_APP_ID,
    OTHER_BOT_ID,
    OTHER_USER_ID,
    TEAM_ID,
    Ephemeral,
    Event,
    Message,
    ViewRecord,
)

__all__ = ["SCOPES", "Workspace", "blocks_of"]

# What auth.test says the token was granted (x-oauth-scopes) unless a test says otherwise.
SCOPES = (
    "commands,chat:write,chat:write.public,usergroups:read,users:read,channels:read,groups:read,"
    "channels:history,groups:history"
)
_FIRST_TS_MICROS = 1_700_000_000_000_000


def blocks_of(value: Any) -> list[Any]:
    """Blocks as a method received them: a list, or its JSON text (form-encoded posts)."""
    if isinstance(value, str):
        value = json.loads(value) if value else []
    return list(value) if isinstance(value, list) else []


class Workspace:
    """One Slack workspace, as the bot's token sees it.

    Every channel exists and has the bot as a member, and every user exists, unless a test says
    otherwise: `channels[C]` overrides `conversations.info` fields (`is_private`, `is_member`,
    `is_archived`, ...); `users[U]` overrides `users.info` fields (`deleted`, `is_bot`, ...);
    `known_users`, when set, makes `users.info` strict (only those, the ones in `users` and the
    bot exist). `usergroups[S]` lists a group's members; an unknown group is `no_such_subteam`.
    """

    def __init__(self) -> None:
        self.messages: dict[tuple[str, str], Message] = {}
        self.ephemerals: list[Ephemeral] = []
        self.responses: list[dict[str, Any]] = []
        self.usergroups: dict[str, list[str]] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.known_users: set[str] | None = None
        self.scopes = SCOPES
        self.views: dict[str, ViewRecord] = {}  # id → modal or Home view, as the bot last set it
        self._events: list[Event] = []
        self._ts_count = 0

    # set-up --------------------------------------------------------------------------------

    def add_channel(
        self,
        channel: str,
        *,
        private: bool = False,
        member: bool = True,
        archived: bool = False,
        name: str | None = None,
    ) -> None:
        """Describe a channel: public or private, with the bot in it or not, archived or not."""
        info: dict[str, Any] = {
            "is_private": private,
            "is_member": member,
            "is_archived": archived,
        }
        if name is not None:
            info["name"] = name
        self.channels[channel] = {**self.channels.get(channel, {}), **info}

    def add_foreign_message(
        self,
        channel: str,
        text: str,
        *,
        metadata: dict[str, Any] | None = None,
        thread_ts: str | None = None,
        bot_id: str | None = OTHER_BOT_ID,
        user: str = OTHER_USER_ID,
        app_id: str | None = None,
        blocks: list[Any] | None = None,
    ) -> Message:
        """Put a message another app (or, with `bot_id=None`, a person) posted into the channel
        or, with `thread_ts`, into that thread. `app_id` defaults to another app's when `bot_id`
        is set. It shows in `conversations.history`/`.replies` with its poster's ids."""
        if app_id is None and bot_id is not None:
            app_id = OTHER_APP_ID
        message = Message(
            channel,
            self.next_ts(),
            text,
            list(blocks or []),
            thread_ts,
            user=user,
            metadata=metadata,
            bot_id=bot_id,
            app_id=app_id,
        )
        return self.store_message(message)

    # queries -------------------------------------------------------------------------------

    def message(self, channel: str, ts: str) -> Message:
        return self.messages[(channel, ts)]

    def thread(self, channel: str, ts: str) -> list[Message]:
        """Replies under the parent at (channel, ts), oldest first, parent excluded."""
        replies = [
            m
            for m in self.messages.values()
            if m.channel == channel and m.thread_ts == ts and m.ts != ts
        ]
        return sorted(replies, key=lambda m: m.ts)

    def history(self, channel: str) -> list[Message]:
        """The channel's top-level messages, newest first (replies stay in their threads)."""
        found = [m for m in self.messages.values() if m.channel == channel and m.thread_ts is None]
        return sorted(found, key=lambda m: m.ts, reverse=True)

    def transcript(self) -> list[Event]:
        """Everything a person would have seen, in the order it happened."""
        return list(self._events)

    def view(self, view_id: str) -> ViewRecord:
        return self.views[view_id]

    def home(self, user_id: str) -> dict[str, Any] | None:
        """The Home tab the bot last published for `user_id`, or None."""
        for record in self.views.values():
            if record.type == "home" and record.user == user_id:
                return record.view
        return None

    def channel_kind(self, channel: str) -> str:
        """public, private, im or mpim: which family of scopes reading it takes."""
        info = self.channels.get(channel, {})
        if info.get("is_im") or (channel.startswith("D") and "is_im" not in info):
            return "im"
        if info.get("is_mpim"):
            return "mpim"
        return "private" if info.get("is_private") else "public"

    def channel_info(self, channel: str) -> dict[str, Any]:
        """`conversations.info`'s channel object: the defaults for its kind, then `channels[C]`."""
        kind = self.channel_kind(channel)
        info: dict[str, Any] = {
            "id": channel,
            "name": channel.lower(),
            "is_channel": kind == "public",
            "is_group": kind == "private",
            "is_im": kind == "im",
            "is_mpim": kind == "mpim",
            "is_private": kind != "public",
            "is_archived": False,
            "is_member": True,
            "created": 1654868334,
            "context_team_id": TEAM_ID,
        }
        return {**info, **self.channels.get(channel, {})}

    def user_info(self, user_id: str) -> dict[str, Any] | None:
        """`users.info`'s user object, or None when the user does not exist."""
        strict = self.known_users is not None
        known = (self.known_users or set()) | set(self.users) | {BOT_USER_ID}
        if not user_id or (strict and user_id not in known):
            return None
        name = user_id.lower()
        user = {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": name,
            "deleted": False,
            "real_name": name,
            "tz": "UTC",
            "tz_offset": 0,
            "is_admin": False,
            "is_owner": False,
            "is_bot": user_id == BOT_USER_ID,
            "is_app_user": False,
            "updated": 1700000000,
            "profile": {"display_name": name, "real_name": name},
        }
        return {**user, **self.users.get(user_id, {})}

    # changes -------------------------------------------------------------------------------

    def next_ts(self) -> str:
        """A message ts later than every one before it."""
        self._ts_count += 1
        micros = _FIRST_TS_MICROS + 100 * self._ts_count
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def store_message(self, message: Message) -> Message:
        """Keep a new message (the bot's or another poster's) and show it in the transcript."""
        if message.thread_ts is not None:
            parent = self.messages.get((message.channel, message.thread_ts))
            message.parent_user_id = parent.user if parent else BOT_USER_ID
        self.messages[(message.channel, message.ts)] = message
        kind = "message" if message.thread_ts is None else "reply"
        extra = {} if message.by_the_bot else {"bot_id": message.bot_id, "app_id": message.app_id}
        self.record(
            Event(
                kind,
                message.channel,
                message.ts,
                message.user,
                message.text,
                message.blocks,
                message.thread_ts,
                time.time(),
                extra,
            )
        )
        return message

    def record(self, event: Event) -> None:
        """Add one visible thing to the transcript."""
        self._events.append(event)
