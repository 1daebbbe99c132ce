"""The values of a keyed post (SPEC §5a): what to post, and a post as the store holds it.

Shared by the store (which keeps them) and `bot.slack.delivery` (which sends them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["DeliveryRecord", "NewDelivery"]


@dataclass(frozen=True)
class NewDelivery:
    """A post about to be sent: where, what, and what its owner records once it is taken."""

    key: str
    channel_id: str
    text: str
    thread_ts: str | None = None
    blocks: list[dict[str, Any]] | None = None
    after: dict[str, Any] | None = None


@dataclass(frozen=True)
class DeliveryRecord:
    key: str
    channel_id: str
    thread_ts: str | None
    text: str
    blocks: list[dict[str, Any]] | None
    after: dict[str, Any] | None
    state: str  # pending / delivered / refused
    ts: str | None
    error: str | None
    repeated: bool
    created_at: datetime
    owner: str | None
    owner_until: datetime | None

    @property
    def post(self) -> NewDelivery:
        return NewDelivery(
            self.key, self.channel_id, self.text, self.thread_ts, self.blocks, self.after
        )
