"""The database schema at the head migration. ORM rows never leave the `bot.store` package.

The migrations in `bot/store/migrations` build exactly this schema (tests compare the two); a
schema change is a new migration plus the matching change here.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, Index, Integer, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = [
    "AlertClusterRow",
    "AlertRow",
    "ApprovalRow",
    "AuditRow",
    "Base",
    "DeliveryRow",
    "GivenApprovalRow",
    "UTCDateTime",
    "WatchRow",
]


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
    summary: Mapped[str] = mapped_column(Text, default="{}")  # the workflow the message shows
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(32))
    cancel_request_id: Mapped[str | None] = mapped_column(String(100))
    cancel_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(Text)
    # When the message (and its thread) last showed the final state (kept for the audit).
    shown_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Bumped by every change; the message records the version it last showed (`shown_version`)
    # so that an update never puts an older state over a newer one.
    version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    shown_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # What is left to do for this request (post, send, settle, follow_up, show) or NULL: the
    # store's outbox. Whoever holds the lease does it; a lapsed lease lets another take it over.
    work: Mapped[str | None] = mapped_column(String(16), index=True)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    stuck_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The workflow as the message showed it when the lead approved, and as the cancel's answer
    # showed it: the thread reports their difference right after the "cancelled" reply.
    baseline: Mapped[str | None] = mapped_column(Text)
    answer: Mapped[str | None] = mapped_column(Text)


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
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    warned: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, default=0)
    # Keyed thread posts made so far (the next one's key is `{watch_id}:{posts}`), and the key
    # of a post begun but whose delivery is not yet recorded here.
    posts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    pending_key: Mapped[str | None] = mapped_column(String(120))
    # When this watch first saw the workflow in phase Cancel (the Rollback grace counts from it).
    cancel_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_watches_due", "state", "next_due_at"),
        # SPEC §5a: at most one open watch per workflow and thread.
        Index(
            "uq_watches_open_thread",
            "workflow_id",
            "channel_id",
            "thread_ts",
            unique=True,
            sqlite_where=text("state = 'open'"),
            postgresql_where=text("state = 'open'"),
        ),
    )


class DeliveryRow(Base):
    """A Slack post that matters, written before it is sent (SPEC §5a).

    `key` travels with the post as message metadata; `state` is pending until Slack's answer
    says it was taken (delivered, with its `ts`) or refused. A pending row found later means the
    answer was lost: the post is looked for by its key before it is sent again. `after` is what
    its owner records once it is delivered (a watch's next state, for instance).
    """

    __tablename__ = "deliveries"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(32))
    thread_ts: Mapped[str | None] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    blocks: Mapped[str | None] = mapped_column(Text)
    after: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))  # pending / delivered / refused
    ts: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(String(64))
    repeated: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Who is sending it now, and until when (a send in flight is not looked for underneath).
    owner: Mapped[str | None] = mapped_column(String(64))
    owner_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AlertRow(Base):
    """One alert per workflow and condition, ever (SPEC §10.3): the primary key decides."""

    __tablename__ = "alerts"

    workflow_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    condition: Mapped[str] = mapped_column(String(16), primary_key=True)  # failed / stalled
    project_id: Mapped[str] = mapped_column(String(32))
    cluster_id: Mapped[str] = mapped_column(String(36))
    channel_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(16))  # pending / posted / given_up
    # The alert's post, once Slack has it (its delivery row has the key `alert:{id}:{condition}`).
    message_ts: Mapped[str | None] = mapped_column(String(32))


class AlertClusterRow(Base):
    """When a cluster is next looked at for alerts, and which replica is looking now (a lease)."""

    __tablename__ = "alert_clusters"

    cluster_key: Mapped[str] = mapped_column(String(80), primary_key=True)  # project:cluster
    next_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
