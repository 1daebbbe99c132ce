"""The approval use case's expected refusals: shown to the user, never a traceback."""

from __future__ import annotations

__all__ = ["FlowError", "WorkStuck"]


class FlowError(Exception):
    """An expected refusal with a message for the user (never a traceback)."""


class WorkStuck(Exception):
    """A step of a request's work could not make progress now (an outside service did not
    answer); it is tried again later, and given up after `recovery.give_up_after`."""
