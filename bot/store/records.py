"""Plain records the store hands out (ORM rows never leave `bot.store`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["ApprovalRecord", "AuditRecord", "NewApproval"]


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

    @staticmethod
    def summary_json(summary: dict[str, Any]) -> str:
        return json.dumps(summary, sort_keys=True, default=str)


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
    pending_post: dict[str, Any] | None = None
