"""Alerts (SPEC §10.3): one per workflow and condition, ever; a lease per cluster looked at.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.store.tables import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("workflow_id", sa.String(36), primary_key=True),
        sa.Column("condition", sa.String(16), primary_key=True),
        sa.Column("project_id", sa.String(32), nullable=False),
        sa.Column("cluster_id", sa.String(36), nullable=False),
        sa.Column("channel_id", sa.String(32), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("message_ts", sa.String(32)),
    )
    op.create_table(
        "alert_clusters",
        sa.Column("cluster_key", sa.String(80), primary_key=True),
        sa.Column("next_due_at", UTCDateTime, nullable=False),
        sa.Column("lease_owner", sa.String(64)),
        sa.Column("lease_until", UTCDateTime),
    )


def downgrade() -> None:
    op.drop_table("alert_clusters")
    op.drop_table("alerts")
