"""Which upgrade workflows of a cluster are still open: the ones a command may mean when its
workflow is left out (SPEC §2), and the ones the cancel modal offers.

Open means not settled by the domain's settling rule (`progress.settlement`) with no cancel time
known: a phase other than Success or Cancel, a task still running, or a Rollback still to come.
Pure: built from snapshots; knows nothing of Slack, HTTP or the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.progress import settlement
from bot.domain.snapshot import Snapshot

__all__ = ["OpenWorkflow", "is_open"]

# Only used when a cancel time is known, which it never is here (`cancelled_for=None`).
_NO_GRACE = timedelta(0)


@dataclass(frozen=True)
class OpenWorkflow:
    """A workflow that has not settled: its id (validated), what it shows, when it was made."""

    workflow_id: str
    snap: Snapshot
    created: datetime | str | None = None


def is_open(snap: Snapshot) -> bool:
    """Whether the workflow has not settled (SPEC §5), not knowing when it was cancelled."""
    return settlement(snap, cancelled_for=None, rollback_grace=_NO_GRACE) is None
