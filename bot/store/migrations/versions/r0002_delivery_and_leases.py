"""One delivery path and leases instead of timers (issue 10).

- approval_requests: `version`/`shown_version` (a message update never goes back in time),
  `work` plus a lease (`lease_owner`, `lease_until`) and retry bookkeeping (`attempts`,
  `next_attempt_at`, `stuck_since`), and the snapshots the thread's story is told from
  (`baseline`: what the message showed at approval; `answer`: what the cancel's answer showed).
  Rows are given the work a 0.1.0 process would still have done for them.
- watches: `posts`, `pending_key` and `cancel_seen_at`; a pending post of 0.1.0 becomes a
  delivery row under its original key (the key its message metadata carries), so it is looked
  for, not posted again; at most one open watch per workflow and thread (duplicates closed).
- deliveries: the table every post that matters goes through.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import op

from bot.store.tables import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# A request cancelled or ended longer ago than this is not followed up or shown any more.
RECENT = timedelta(hours=3)

requests = sa.table(
    "approval_requests",
    sa.column("approval_id", sa.String),
    sa.column("state", sa.String),
    sa.column("message_ts", sa.String),
    sa.column("summary", sa.Text),
    sa.column("decided_at", UTCDateTime),
    sa.column("cancel_sent_at", UTCDateTime),
    sa.column("shown_at", UTCDateTime),
    sa.column("work", sa.String),
    sa.column("baseline", sa.Text),
    sa.column("answer", sa.Text),
)
watches = sa.table(
    "watches",
    sa.column("watch_id", sa.String),
    sa.column("state", sa.String),
    sa.column("approval_id", sa.String),
    sa.column("workflow_id", sa.String),
    sa.column("channel_id", sa.String),
    sa.column("thread_ts", sa.String),
    sa.column("started_at", UTCDateTime),
    sa.column("pending_post", sa.Text),
    sa.column("pending_key", sa.String),
    sa.column("lease_until", UTCDateTime),
)


def upgrade() -> None:
    now = datetime.now(UTC)
    _requests_columns()
    _deliveries_table()
    _watches_columns()
    bind = op.get_bind()
    _requests_work(bind, now)
    _pending_posts_to_deliveries(bind, now)
    _close_duplicate_watches(bind)
    with op.batch_alter_table("watches") as batch:
        batch.drop_column("pending_post")
    op.create_index(
        "uq_watches_open_thread",
        "watches",
        ["workflow_id", "channel_id", "thread_ts"],
        unique=True,
        sqlite_where=sa.text("state = 'open'"),
        postgresql_where=sa.text("state = 'open'"),
    )


def _requests_columns() -> None:
    with op.batch_alter_table("approval_requests") as batch:
        batch.add_column(sa.Column("version", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("shown_version", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("work", sa.String(16)))
        batch.add_column(sa.Column("lease_owner", sa.String(64)))
        batch.add_column(sa.Column("lease_until", UTCDateTime))
        batch.add_column(sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("next_attempt_at", UTCDateTime))
        batch.add_column(sa.Column("stuck_since", UTCDateTime))
        batch.add_column(sa.Column("baseline", sa.Text))
        batch.add_column(sa.Column("answer", sa.Text))
    op.create_index("ix_approval_requests_work", "approval_requests", ["work"])


def _deliveries_table() -> None:
    op.create_table(
        "deliveries",
        sa.Column("key", sa.String(120), primary_key=True),
        sa.Column("channel_id", sa.String(32), nullable=False),
        sa.Column("thread_ts", sa.String(32)),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("blocks", sa.Text),
        sa.Column("after", sa.Text),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("ts", sa.String(32)),
        sa.Column("error", sa.String(64)),
        sa.Column("repeated", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("delivered_at", UTCDateTime),
        sa.Column("owner", sa.String(64)),
        sa.Column("owner_until", UTCDateTime),
    )


def _watches_columns() -> None:
    with op.batch_alter_table("watches") as batch:
        batch.add_column(sa.Column("posts", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("pending_key", sa.String(120)))
        batch.add_column(sa.Column("cancel_seen_at", UTCDateTime))


def _requests_work(bind: sa.Connection, now: datetime) -> None:
    """What a 0.1.0 process would still have done for each request, as `work`."""
    recent = now - RECENT
    r = requests
    updates: list[tuple[Any, dict[str, Any]]] = [
        (sa.and_(r.c.state == "pending", r.c.message_ts.is_(None)), {"work": "post"}),
        (r.c.state == "approved", {"work": "send"}),
        (r.c.state == "cancel_requested", {"work": "settle"}),
        (
            sa.and_(
                r.c.state == "cancelled",
                sa.func.coalesce(r.c.cancel_sent_at, r.c.decided_at) >= recent,
                ~sa.exists().where(watches.c.approval_id == r.c.approval_id),
            ),
            {"work": "follow_up", "answer": r.c.summary},
        ),
        (
            sa.and_(
                r.c.state.in_(["failed", "rejected", "expired"]),
                r.c.shown_at.is_(None),
                r.c.message_ts.is_not(None),
                r.c.decided_at >= recent,
            ),
            {"work": "show"},
        ),
    ]
    for where, values in updates:
        bind.execute(sa.update(r).where(where).values(**values))
    bind.execute(
        sa.update(r)
        .where(r.c.state.in_(["pending", "approved", "cancel_requested", "cancelled"]))
        .values(baseline=r.c.summary)
    )


def _pending_posts_to_deliveries(bind: sa.Connection, now: datetime) -> None:
    deliveries = sa.table(
        "deliveries",
        sa.column("key", sa.String),
        sa.column("channel_id", sa.String),
        sa.column("thread_ts", sa.String),
        sa.column("text", sa.Text),
        sa.column("after", sa.Text),
        sa.column("state", sa.String),
        sa.column("repeated", sa.Integer),
        sa.column("created_at", UTCDateTime),
    )
    rows = bind.execute(
        sa.select(
            watches.c.watch_id, watches.c.channel_id, watches.c.thread_ts, watches.c.pending_post
        ).where(watches.c.pending_post.is_not(None))
    ).all()
    for watch_id, channel_id, thread_ts, pending_post in rows:
        pending = json.loads(pending_post)
        after = dict(pending.get("then") or {})
        key = str(pending["key"])
        bind.execute(
            sa.insert(deliveries).values(
                key=key,
                channel_id=channel_id,
                thread_ts=thread_ts,
                text=str(pending.get("text", "")),
                after=json.dumps(after, sort_keys=True),
                state="pending",
                repeated=0,
                created_at=now,
            )
        )
        bind.execute(
            sa.update(watches).where(watches.c.watch_id == watch_id).values(pending_key=key)
        )


def _close_duplicate_watches(bind: sa.Connection) -> None:
    """Keep the first open watch per workflow and thread; close the others (a 0.1.0 race)."""
    rows = bind.execute(
        sa.select(
            watches.c.watch_id, watches.c.workflow_id, watches.c.channel_id, watches.c.thread_ts
        )
        .where(watches.c.state == "open")
        .order_by(watches.c.started_at, watches.c.watch_id)
    ).all()
    seen: set[tuple[str, str, str]] = set()
    for watch_id, workflow_id, channel_id, thread_ts in rows:
        place = (workflow_id, channel_id, thread_ts)
        if place in seen:
            bind.execute(
                sa.update(watches)
                .where(watches.c.watch_id == watch_id)
                .values(state="closed", lease_until=None)
            )
        seen.add(place)


def downgrade() -> None:
    raise NotImplementedError("release 0.1.0 cannot read what this version writes")
