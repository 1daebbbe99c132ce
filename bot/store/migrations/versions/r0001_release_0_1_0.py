"""The schema of release 0.1.0: requests, approvals given, the audit log, watches.

A database that release made has no version table; `bot.store.schema` recognises it and
stamps it with this revision, so only what came after is applied to it.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.store.tables import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "approval_requests",
        sa.Column("approval_id", sa.String(40), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("cluster_alias", sa.String(100)),
        sa.Column("project_id", sa.String(32), nullable=False),
        sa.Column("cluster_id", sa.String(36), nullable=False),
        sa.Column("endpoint", sa.String(300), nullable=False),
        sa.Column("workflow_id", sa.String(36), nullable=False),
        sa.Column("requester_id", sa.String(32), nullable=False),
        sa.Column("channel_id", sa.String(32), nullable=False),
        sa.Column("message_ts", sa.String(32)),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("required", sa.Integer, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("decided_at", UTCDateTime),
        sa.Column("decided_by", sa.String(32)),
        sa.Column("cancel_request_id", sa.String(100)),
        sa.Column("cancel_sent_at", UTCDateTime),
        sa.Column("outcome", sa.Text),
        sa.Column("shown_at", UTCDateTime),
    )
    op.create_index("ix_approval_requests_state", "approval_requests", ["state"])
    op.create_index("ix_approval_requests_workflow_id", "approval_requests", ["workflow_id"])
    op.create_index("ix_approval_requests_expires_at", "approval_requests", ["expires_at"])
    op.create_table(
        "approvals",
        sa.Column("approval_id", sa.String(40), primary_key=True),
        sa.Column("user_id", sa.String(32), primary_key=True),
        sa.Column("at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("approval_id", sa.String(40)),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("cluster_id", sa.String(36)),
        sa.Column("workflow_id", sa.String(36)),
        sa.Column("request_id", sa.String(100)),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_approval_id", "audit_log", ["approval_id"])
    op.create_index("ix_audit_log_workflow_id", "audit_log", ["workflow_id"])
    op.create_table(
        "watches",
        sa.Column("watch_id", sa.String(40), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("approval_id", sa.String(40)),
        sa.Column("cluster_alias", sa.String(100)),
        sa.Column("project_id", sa.String(32), nullable=False),
        sa.Column("cluster_id", sa.String(36), nullable=False),
        sa.Column("endpoint", sa.String(300), nullable=False),
        sa.Column("workflow_id", sa.String(36), nullable=False),
        sa.Column("channel_id", sa.String(32), nullable=False),
        sa.Column("thread_ts", sa.String(32), nullable=False),
        sa.Column("root_ts", sa.String(32)),
        sa.Column("last_reported", sa.Text, nullable=False),
        sa.Column("pending_post", sa.Text),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("next_due_at", UTCDateTime, nullable=False),
        sa.Column("lease_owner", sa.String(64)),
        sa.Column("lease_until", UTCDateTime),
        sa.Column("errors", sa.Integer, nullable=False),
        sa.Column("failing_since", UTCDateTime),
        sa.Column("warned", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index("ix_watches_due", "watches", ["state", "next_due_at"])


def downgrade() -> None:
    for table in ("watches", "audit_log", "approvals", "approval_requests"):
        op.drop_table(table)
