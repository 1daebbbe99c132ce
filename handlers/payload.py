"""Reading the few fields the listeners need out of Slack's payloads: `Any` stops here, and a
field of the wrong type reads as missing (empty), never as an error."""

from __future__ import annotations

from typing import Any

__all__ = ["as_dict", "container", "first_action", "user_id"]


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def first_action(body: dict[str, Any]) -> dict[str, Any]:
    """The action a block_actions payload is about (its first)."""
    actions = body.get("actions")
    return as_dict(actions[0]) if isinstance(actions, list) and actions else {}


def container(body: dict[str, Any]) -> dict[str, Any]:
    """Where the click happened: a message (`channel_id`, `message_ts`) or a view."""
    return as_dict(body.get("container"))


def user_id(body: dict[str, Any]) -> str:
    return str(as_dict(body.get("user")).get("id", ""))
