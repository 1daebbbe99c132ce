"""Plain records the store hands out (ORM rows never leave `bot.store`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "ApprovalRecord",
    "ApproveResult",
    "AuditRecord",
    "NewApproval",
    "NewWatch",
    "WatchRecord",
    "Work",
]


class Work(StrEnum):
    """What is left to do for a request (the `work` column); NULL when nothing is."""

    POST = "post"  # post the request message
    SEND = "send"  # approved: re-read, then send the one cancel
    SETTLE = "settle"  # the cancel was sent and its answer is unknown: settle it by a read
    FOLLOW_UP = "follow_up"  # cancelled: the outcome reply, what changed, and the watch
    SHOW = "show"  # ended without a cancel: show it in the message (and the thread)


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def loads(value: str | None) -> Any:
    return json.loads(value) if value else None


@dataclass(frozen=True)
class NewApproval:
    """What is known when a request is opened."""

    approval_id: str
    cluster_alias: str | None
    project_id: str
    cluster_id: str
    endpoint: str
    workflow_id: str
    requester_id: str
    channel_id: str
    reason: str
    required: int
    created_at: datetime
    expires_at: datetime
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ApprovalRecord:
    approval_id: str
    state: str
    cluster_alias: str | None
    project_id: str
    cluster_id: str
    endpoint: str
    workflow_id: str
    requester_id: str
    channel_id: str
    message_ts: str | None
    reason: str
    required: int
    summary: dict[str, Any]
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    cancel_request_id: str | None
    outcome: str | None
    cancel_sent_at: datetime | None = None
    approved_by: tuple[str, ...] = ()
    shown_at: datetime | None = None
    version: int = 0
    shown_version: int = 0
    work: str | None = None
    lease_owner: str | None = None
    lease_until: datetime | None = None
    attempts: int = 0
    stuck_since: datetime | None = None
    baseline: dict[str, Any] | None = None
    answer: dict[str, Any] | None = None

    @staticmethod
    def summary_json(summary: dict[str, Any]) -> str:
        return dumps(summary)


@dataclass(frozen=True)
class ApproveResult:
    """What one approving click did, decided in one transaction.

    `recorded`: the approval counts (`count` of `required`); `approved` when it completed the
    quorum (the request is now approved and leased to the caller); `duplicate` when this user
    had approved already; `closed` when the request was not pending and unexpired (nothing was
    recorded; `state` is what it is now).
    """

    outcome: str  # recorded / approved / duplicate / closed
    count: int = 0
    state: str = ""
    decided_by: str | None = None


@dataclass(frozen=True)
class AuditRecord:
    at: datetime
    approval_id: str | None
    actor: str
    action: str
    cluster_id: str | None
    workflow_id: str | None
    request_id: str | None
    detail: dict[str, Any]


@dataclass(frozen=True)
class NewWatch:
    watch_id: str
    approval_id: str | None
    cluster_alias: str | None
    project_id: str
    cluster_id: str
    endpoint: str
    workflow_id: str
    channel_id: str
    thread_ts: str
    root_ts: str | None
    last_reported: dict[str, Any]
    started_at: datetime
    next_due_at: datetime
    cancel_seen_at: datetime | None = None


@dataclass(frozen=True)
class WatchRecord:
    watch_id: str
    state: str
    approval_id: str | None
    cluster_alias: str | None
    project_id: str
    cluster_id: str
    endpoint: str
    workflow_id: str
    channel_id: str
    thread_ts: str
    root_ts: str | None
    last_reported: dict[str, Any]
    started_at: datetime
    next_due_at: datetime
    lease_owner: str | None
    lease_until: datetime | None
    errors: int
    failing_since: datetime | None
    warned: bool
    version: int
    posts: int = 0
    pending_key: str | None = None
    cancel_seen_at: datetime | None = None
