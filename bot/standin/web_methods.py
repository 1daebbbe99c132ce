"""The stand-in's answers to the Web API methods about messages, channels, users and user groups,
and the scope each of them needs.

Each handler takes the merged request params and returns the JSON reply; `FakeSlack` checks the
token, the scope and any scripted failure first. Imports nothing from the rest of the bot.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from bot.standin.records import (
    BOT_ID,
    BOT_USER_ID,
    TEAM_ID,
    Edit,
    Ephemeral,
    Event,
    Message,
    Params,
)
from bot.standin.workspace import Workspace, blocks_of

__all__ = ["Handler", "Reply", "WebMethods", "needed_scope"]

Reply = dict[str, Any]
Handler = Callable[[Params], Reply]

# Methods whose scope does not depend on the channel. views.*, auth.test and
# apps.connections.open need none (a views.open needs a trigger_id instead).
_SCOPES = {
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.postEphemeral": "chat:write",
    "usergroups.users.list": "usergroups:read",
    "users.info": "users:read",
}
# Methods reading a conversation: the scope's suffix; its family comes from the channel's kind.
_CHANNEL_SCOPES = {
    "conversations.info": "read",
    "conversations.history": "history",
    "conversations.replies": "history",
}
_FAMILY = {"public": "channels", "private": "groups", "im": "im", "mpim": "mpim"}


def needed_scope(workspace: Workspace, method: str, params: Params) -> str | None:
    """The scope `method` needs for these params (channels:read for a public channel's info,
    groups:history for a private channel's history, ...), or None when it needs none."""
    if method in _CHANNEL_SCOPES:
        kind = workspace.channel_kind(str(params.get("channel", "")))
        return f"{_FAMILY[kind]}:{_CHANNEL_SCOPES[method]}"
    return _SCOPES.get(method)


class WebMethods:
    """auth.test, chat.*, conversations.*, users.info and usergroups.users.list on a workspace."""

    def __init__(self, workspace: Workspace) -> None:
        self._workspace = workspace

    def handlers(self) -> dict[str, Handler]:
        return {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.postEphemeral": self._post_ephemeral,
            "usergroups.users.list": self._usergroup_users,
            "conversations.info": self._conversation_info,
            "conversations.replies": self._replies,
            "conversations.history": self._history,
            "users.info": self._user_info,
        }

    def _auth_test(self, params: Params) -> Reply:
        return {
            "ok": True,
            "url": "https://acme.slack.com/",
            "team": "Acme",
            "user": "cce-upgrade-bot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _channel_error(self, channel: str) -> str | None:
        if not channel:
            return "channel_not_found"
        info = self._workspace.channels.get(channel, {})
        if info.get("is_archived"):
            return "is_archived"
        if info.get("is_member") is False:
            return "not_in_channel"
        return None

    def _post_message(self, params: Params) -> Reply:
        channel = str(params.get("channel", ""))
        text, blocks = str(params.get("text", "")), blocks_of(params.get("blocks"))
        if error := self._channel_error(channel):
            return {"ok": False, "error": error}
        if not text and not blocks:
            return {"ok": False, "error": "no_text"}
        thread_ts = str(params["thread_ts"]) if params.get("thread_ts") else None
        metadata = params.get("metadata")
        if isinstance(metadata, str):  # a form-encoded post sends it as JSON text
            metadata = json.loads(metadata) if metadata else None
        ts = self._workspace.next_ts()
        message = Message(channel, ts, text, blocks, thread_ts, metadata=metadata)
        self._workspace.store_message(message)
        return {"ok": True, "channel": channel, "ts": message.ts, "message": message.as_payload()}

    def _update(self, params: Params) -> Reply:
        channel, ts = str(params.get("channel", "")), str(params.get("ts", ""))
        message = self._workspace.messages.get((channel, ts))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        if not message.by_the_bot:
            return {"ok": False, "error": "cant_update_message"}
        if "text" in params:
            message.text = str(params["text"])
        if "blocks" in params:
            message.blocks = blocks_of(params["blocks"])
        message.edits.append(Edit(message.text, message.blocks, time.time()))
        self._workspace.record(
            Event(
                "update",
                channel,
                ts,
                BOT_USER_ID,
                message.text,
                message.blocks,
                message.thread_ts,
                time.time(),
            )
        )
        return {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "text": message.text,
            "message": message.as_payload(),
        }

    def _post_ephemeral(self, params: Params) -> Reply:
        channel, user = str(params.get("channel", "")), str(params.get("user", ""))
        text, blocks = str(params.get("text", "")), blocks_of(params.get("blocks"))
        if error := self._channel_error(channel):
            return {"ok": False, "error": error}
        if not user:
            return {"ok": False, "error": "user_not_in_channel"}
        message_ts = self._workspace.next_ts()
        self._workspace.ephemerals.append(Ephemeral(channel, user, text, blocks))
        thread_ts = str(params["thread_ts"]) if params.get("thread_ts") else None
        self._workspace.record(
            Event("ephemeral", channel, message_ts, user, text, blocks, thread_ts, time.time())
        )
        return {"ok": True, "message_ts": message_ts}

    def _usergroup_users(self, params: Params) -> Reply:
        members = self._workspace.usergroups.get(str(params.get("usergroup", "")))
        if members is None:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(members)}

    def _conversation_info(self, params: Params) -> Reply:
        channel = str(params.get("channel", ""))
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        return {"ok": True, "channel": self._workspace.channel_info(channel)}

    def _replies(self, params: Params) -> Reply:
        """The parent and its replies, oldest first."""
        channel, ts = str(params.get("channel", "")), str(params.get("ts", ""))
        parent = self._workspace.messages.get((channel, ts))
        if parent is None:
            return {"ok": False, "error": "thread_not_found"}
        return _page([parent, *self._workspace.thread(channel, ts)], params)

    def _history(self, params: Params) -> Reply:
        """The channel's top-level messages, newest first (replies stay in their threads)."""
        channel = str(params.get("channel", ""))
        if error := self._channel_error(channel):
            return {"ok": False, "error": error}
        return _page(self._workspace.history(channel), params)

    def _user_info(self, params: Params) -> Reply:
        user = self._workspace.user_info(str(params.get("user", "")))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": user}


def _page(messages: list[Message], params: Params) -> Reply:
    """One page of `messages`: `limit` of them from an offset `cursor`; metadata when asked."""
    start = int(params.get("cursor") or 0)
    limit = int(params.get("limit") or 100)
    with_metadata = str(params.get("include_all_metadata", "")).lower() in ("true", "1")
    more = start + limit < len(messages)
    return {
        "ok": True,
        "messages": [m.as_payload(with_metadata=with_metadata) for m in messages[start:][:limit]],
        "has_more": more,
        "response_metadata": {"next_cursor": str(start + limit) if more else ""},
    }
