"""Shapes of the identifiers that reach a URL, and their validation.

Every project, cluster and workflow id is checked here before it is pasted into a path, so
`../`, `%2f`, whitespace or any other oddity is refused with a clear message and no request.
This module imports nothing from the rest of the bot.
"""

from __future__ import annotations

import re

__all__ = [
    "InvalidID",
    "validate_cluster_id",
    "validate_project_id",
    "validate_workflow_id",
]

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_PROJECT = re.compile(r"[0-9a-f]{32}")


class InvalidID(ValueError):
    """An identifier that does not have the shape the API uses."""

    def __init__(self, kind: str, value: str, shape: str) -> None:
        shown = value if len(value) <= 64 else value[:61] + "..."
        super().__init__(f"{kind} {shown!r} is not valid: expected {shape}")
        self.kind = kind
        self.value = value


def _check(kind: str, value: object, pattern: re.Pattern[str], shape: str) -> str:
    if not isinstance(value, str):
        raise InvalidID(kind, repr(value), shape)
    # fullmatch on the lower-cased text: no whitespace, separators or escapes can slip through.
    lowered = value.lower()
    if not pattern.fullmatch(lowered):
        raise InvalidID(kind, value, shape)
    return lowered


def validate_project_id(value: object) -> str:
    """Return the project id (32 hex digits, lower case) or raise `InvalidID`."""
    return _check("project id", value, _PROJECT, "32 hexadecimal characters")


def validate_cluster_id(value: object) -> str:
    """Return the cluster id (a UUID, lower case) or raise `InvalidID`."""
    return _check("cluster id", value, _UUID, "a UUID like f9960c6b-8e60-11ee-9754-0255ac100b05")


def validate_workflow_id(value: object) -> str:
    """Return the upgrade workflow id (a UUID, lower case) or raise `InvalidID`."""
    return _check("workflow id", value, _UUID, "a UUID like d0b7e319-8172-424c-86ea-543cd23f9756")
