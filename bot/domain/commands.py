"""Parsing the text after `/cce-upgrade` into a command. Pure: no Slack, no API.

Every id is checked here, so malformed input gets a usage message and never reaches the API.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.domain.ids import InvalidID, validate_workflow_id

__all__ = [
    "Cancel",
    "Command",
    "Help",
    "Invalid",
    "ListWorkflows",
    "Status",
    "Watch",
    "parse_command",
]

MAX_REASON = 500
# An alias from the config, or a raw cluster id (a UUID, which this also admits).
_CLUSTER_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


@dataclass(frozen=True)
class Cancel:
    cluster: str
    workflow_id: str
    reason: str


@dataclass(frozen=True)
class Status:
    cluster: str
    workflow_id: str


@dataclass(frozen=True)
class Watch:
    cluster: str
    workflow_id: str


@dataclass(frozen=True)
class ListWorkflows:
    cluster: str


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class Invalid:
    problem: str


Command = Cancel | Status | Watch | ListWorkflows | Help | Invalid

_USAGE = {
    "cancel": "cancel <cluster> <workflow> [reason…]",
    "status": "status <cluster> <workflow>",
    "watch": "watch <cluster> <workflow>",
    "list": "list <cluster>",
}


def _cluster(token: str) -> str | None:
    return token if _CLUSTER_TOKEN.fullmatch(token) else None


def parse_command(text: str) -> Command:
    """Turn the command text into one of the commands, or `Invalid` saying what was wrong."""
    words = text.split()
    if not words or words[0].lower() in ("help", "-h", "--help", "?"):
        return Help()
    verb, args = words[0].lower(), words[1:]
    if verb not in _USAGE:
        shown = words[0] if len(words[0]) <= 40 else words[0][:37] + "..."
        return Invalid(f"Unknown command `{shown}`.")
    wanted = 1 if verb == "list" else 2
    if len(args) < wanted or (verb != "cancel" and len(args) > wanted):
        return Invalid(f"Usage: `/cce-upgrade {_USAGE[verb]}`.")
    cluster = _cluster(args[0])
    if cluster is None:
        return Invalid(
            "The cluster must be an alias from the bot's config or a cluster id "
            "(letters, digits, `.`, `_`, `-`)."
        )
    if verb == "list":
        return ListWorkflows(cluster)
    try:
        workflow_id = validate_workflow_id(args[1])
    except InvalidID:
        return Invalid(
            "The workflow must be an upgrade workflow id, a UUID like "
            "`d0b7e319-8172-424c-86ea-543cd23f9756`."
        )
    if verb == "status":
        return Status(cluster, workflow_id)
    if verb == "watch":
        return Watch(cluster, workflow_id)
    reason = " ".join(args[2:])
    if len(reason) > MAX_REASON:
        return Invalid(f"The reason is too long ({len(reason)} characters; at most {MAX_REASON}).")
    return Cancel(cluster, workflow_id, reason)
