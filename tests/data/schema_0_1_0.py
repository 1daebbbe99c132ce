# A frozen copy of bot/store/tables.py as release 0.1.0 shipped it (commit 1854895), so the
# migration tests build the very schema that release made and check that it is upgraded in place.
# Do not edit: it is evidence, not code.
"""The database schema. ORM rows never leave the `bot.store` package."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = ["ApprovalRow", "AuditRow", "Base", "GivenApprovalRow", "UTCDateTime", "WatchRow"]


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on SQLite (which drops the zone) and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class ApprovalRow(Base):
    __tablename__ = "approval_requests"

    approval_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    cluster_alias: Mapped[str | None] = mapped_column(String(100))
    project_id: Mapped[str] = mapped_column(String(32))
    cluster_id: Mapped[str] = mapped_column(String(36))
    endpoint: Mapped[str] = mapped_column(String(300))
    workflow_id: Mapped[str] = mapped_column(String(36), index=True)
    requester_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    message_ts: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text, default="")
    required: Mapped[int] = mapped_column(Integer, default=1)
    summary: Mapped[str] = mapped_column(Text, default="{}")  # workflow as shown at request time
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(32))
    cancel_request_id: Mapped[str | None] = mapped_column(String(100))
    cancel_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(Text)
    # When the message (and its thread) last showed the final state; None: not yet, or a crash
    # came between the transition and the post, and the recovery job shows it.
    shown_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class GivenApprovalRow(Base):
    __tablename__ = "approvals"

    approval_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuditRow(Base):
    """Append-only: rows are inserted, never updated or deleted."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    approval_id: Mapped[str | None] = mapped_column(String(40), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    cluster_id: Mapped[str | None] = mapped_column(String(36))
    workflow_id: Mapped[str | None] = mapped_column(String(36), index=True)
    request_id: Mapped[str | None] = mapped_column(String(100))
    detail: Mapped[str] = mapped_column(Text, default="{}")


class WatchRow(Base):
    """One workflow being followed in one Slack thread, and what was last reported there."""

    __tablename__ = "watches"

    watch_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))  # open / closed
    approval_id: Mapped[str | None] = mapped_column(String(40))
    cluster_alias: Mapped[str | None] = mapped_column(String(100))
    project_id: Mapped[str] = mapped_column(String(32))
    cluster_id: Mapped[str] = mapped_column(String(36))
    endpoint: Mapped[str] = mapped_column(String(300))
    workflow_id: Mapped[str] = mapped_column(String(36))
    channel_id: Mapped[str] = mapped_column(String(32))
    thread_ts: Mapped[str] = mapped_column(String(32))
    root_ts: Mapped[str | None] = mapped_column(String(32))  # message whose status we update
    last_reported: Mapped[str] = mapped_column(Text, default="{}")
    # A thread reply about to be posted (JSON), so a restart can find it instead of reposting.
    pending_post: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    warned: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_watches_due", "state", "next_due_at"),)
