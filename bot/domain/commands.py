"""Parsing the text after `/cce-upgrade` into a command. Pure: no Slack, no API.

Every id is checked here, so malformed input gets a usage message and never reaches the API. The
workflow may be left out (SPEC §2): the word after the cluster is the workflow only when it is a
UUID, otherwise it starts the reason. A word that looks like a mistyped workflow id (it starts
like one) is refused rather than taken for a reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.domain.ids import InvalidID, validate_workflow_id

__all__ = [
    "Cancel",
    "Clusters",
    "Command",
    "Help",
    "Invalid",
    "ListWorkflows",
    "OpenModal",
    "Status",
    "Watch",
    "command_text",
    "parse_command",
]

MAX_REASON = 500
# An alias from the config, a cluster's name, or a raw cluster id (a UUID, which this admits).
_CLUSTER_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
# A workflow id is a UUID; a word starting with 8 hex digits and a dash was meant to be one.
_UUID_START = re.compile(r"[0-9A-Fa-f]{8}-")


@dataclass(frozen=True)
class Cancel:
    cluster: str
    workflow_id: str | None
    reason: str


@dataclass(frozen=True)
class Status:
    cluster: str
    workflow_id: str | None


@dataclass(frozen=True)
class Watch:
    cluster: str
    workflow_id: str | None


@dataclass(frozen=True)
class ListWorkflows:
    cluster: str


@dataclass(frozen=True)
class Clusters:
    """`clusters`: what the bot can see."""


@dataclass(frozen=True)
class OpenModal:
    """Nothing after the command, or `cancel` alone: the cancel modal (SPEC §10.1)."""


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class Invalid:
    problem: str


Command = Cancel | Status | Watch | ListWorkflows | Clusters | OpenModal | Help | Invalid

_USAGE = {
    "cancel": "cancel <cluster> [<workflow>] [reason…]",
    "status": "status <cluster> [<workflow>]",
    "watch": "watch <cluster> [<workflow>]",
    "list": "list <cluster>",
    "clusters": "clusters",
}
_BAD_CLUSTER = (
    "The cluster must be an alias from the bot's config, a cluster's name or a cluster id "
    "(letters, digits, `.`, `_`, `-`)."
)
_BAD_WORKFLOW = (
    "The workflow must be an upgrade workflow id, a UUID like "
    "`d0b7e319-8172-424c-86ea-543cd23f9756`."
)


def _workflow(word: str) -> str | Invalid | None:
    """The workflow id `word` is, None when it is not one (it starts the reason), or Invalid
    when it looks like a mistyped id."""
    try:
        return validate_workflow_id(word)
    except InvalidID:
        return Invalid(_BAD_WORKFLOW) if _UUID_START.match(word) else None


def parse_command(text: str) -> Command:
    """Turn the command text into one of the commands, or `Invalid` saying what was wrong."""
    words = text.split()
    if not words:
        return OpenModal()
    verb, args = words[0].lower(), words[1:]
    if verb in ("help", "-h", "--help", "?"):
        return Help()
    if verb not in _USAGE:
        shown = words[0] if len(words[0]) <= 40 else words[0][:37] + "..."
        return Invalid(f"Unknown command `{shown}`.")
    if verb == "cancel" and not args:
        return OpenModal()
    usage = Invalid(f"Usage: `/cce-upgrade {_USAGE[verb]}`.")
    if verb == "clusters":
        return Clusters() if not args else usage
    if not args:
        return usage
    cluster = args[0] if _CLUSTER_TOKEN.fullmatch(args[0]) else None
    if cluster is None:
        return Invalid(_BAD_CLUSTER)
    if verb == "list":
        return ListWorkflows(cluster) if len(args) == 1 else usage
    workflow = _workflow(args[1]) if len(args) > 1 else None
    if isinstance(workflow, Invalid):
        return workflow
    rest = args[2:] if workflow is not None else args[1:]
    if verb != "cancel":
        if rest:
            return usage
        return Status(cluster, workflow) if verb == "status" else Watch(cluster, workflow)
    reason = " ".join(rest)
    if len(reason) > MAX_REASON:
        return Invalid(f"The reason is too long ({len(reason)} characters; at most {MAX_REASON}).")
    return Cancel(cluster, workflow, reason)


def command_text(command: Cancel | Status | Watch) -> str:
    """The command as it would be typed (what `parse_command` reads back into it)."""
    verb = {Cancel: "cancel", Status: "status", Watch: "watch"}[type(command)]
    words = [verb, command.cluster, command.workflow_id or ""]
    if isinstance(command, Cancel):
        words.append(command.reason)
    return " ".join(w for w in words if w)
