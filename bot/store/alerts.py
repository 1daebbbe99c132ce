"""Alerts: one per workflow and condition, ever (the primary key), and a lease per cluster so one
replica at a time looks at it (SPEC §10.3)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from bot.store.db import Database
from bot.store.tables import AlertClusterRow, AlertRow

__all__ = ["AlertRecord", "AlertStore"]


@dataclass(frozen=True)
class AlertRecord:
    workflow_id: str
    condition: str
    project_id: str
    cluster_id: str
    channel_id: str
    created_at: datetime
    state: str = "pending"  # pending / posted / given_up
    message_ts: str | None = None


class AlertStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(self, alert: AlertRecord) -> bool:
        """Write an alert down before it is posted; False when this one exists already."""
        try:
            async with self._db.session.begin() as s:
                s.add(AlertRow(**alert.__dict__))
        except IntegrityError:
            return False
        return True

    async def get(self, workflow_id: str, condition: str) -> AlertRecord | None:
        async with self._db.session() as s:
            row = await s.get(AlertRow, (workflow_id, condition))
            return None if row is None else _alert(row)

    async def posted(self, workflow_id: str, condition: str, ts: str | None) -> None:
        """The alert is in the channel at `ts` (None: given up, never posted)."""
        await self._db.execute(
            update(AlertRow)
            .where(AlertRow.workflow_id == workflow_id, AlertRow.condition == condition)
            .values(message_ts=ts, state="posted" if ts else "given_up")
        )

    async def claim_clusters(
        self, keys: Sequence[str], owner: str, now: datetime, until: datetime
    ) -> list[str]:
        """Of `keys` (one per cluster), those due now and not leased by a live replica, leased to
        `owner`. A cluster seen for the first time is due at once."""
        if not keys:
            return []
        async with self._db.session() as s:
            known = set(
                await s.scalars(
                    select(AlertClusterRow.cluster_key).where(
                        AlertClusterRow.cluster_key.in_(list(keys))
                    )
                )
            )
        for key in sorted(set(keys) - known):
            try:  # another replica may add it at the same moment: then it is there, fine
                async with self._db.session.begin() as s:
                    s.add(AlertClusterRow(cluster_key=key, next_due_at=now))
            except IntegrityError:
                pass
        statement = (
            update(AlertClusterRow)
            .where(
                AlertClusterRow.cluster_key.in_(list(keys)),
                AlertClusterRow.next_due_at <= now,
                or_(AlertClusterRow.lease_until.is_(None), AlertClusterRow.lease_until < now),
            )
            .values(lease_owner=owner, lease_until=until)
            .returning(AlertClusterRow.cluster_key)
        )
        async with self._db.session.begin() as s:
            return sorted((await s.scalars(statement)).all())

    async def release_cluster(self, key: str, owner: str, next_due_at: datetime) -> None:
        """Done looking at a cluster: free its lease; it is next due at `next_due_at`."""
        await self._db.execute(
            update(AlertClusterRow)
            .where(AlertClusterRow.cluster_key == key, AlertClusterRow.lease_owner == owner)
            .values(lease_owner=None, lease_until=None, next_due_at=next_due_at)
        )


def _alert(row: AlertRow) -> AlertRecord:
    return AlertRecord(
        workflow_id=row.workflow_id,
        condition=row.condition,
        project_id=row.project_id,
        cluster_id=row.cluster_id,
        channel_id=row.channel_id,
        created_at=row.created_at,
        state=row.state,
        message_ts=row.message_ts,
    )
