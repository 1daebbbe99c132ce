"""Watch rows: created, claimed with a lease, advanced with compare-and-set, closed.

On PostgreSQL the claim uses `FOR UPDATE SKIP LOCKED`, so replicas never claim the same due
watch; a lease (`lease_until`) hands a dead replica's watches over once it lapses. Every write
after a claim checks `lease_owner` and `version`, so a replica that lost its lease writes nothing.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from bot.store.records import NewWatch, WatchRecord
from bot.store.tables import UTCDateTime, WatchRow

__all__ = ["WatchStore"]


def _watch(row: WatchRow) -> WatchRecord:
    return WatchRecord(
        watch_id=row.watch_id,
        state=row.state,
        approval_id=row.approval_id,
        cluster_alias=row.cluster_alias,
        project_id=row.project_id,
        cluster_id=row.cluster_id,
        endpoint=row.endpoint,
        workflow_id=row.workflow_id,
        channel_id=row.channel_id,
        thread_ts=row.thread_ts,
        root_ts=row.root_ts,
        last_reported=json.loads(row.last_reported or "{}"),
        started_at=row.started_at,
        next_due_at=row.next_due_at,
        lease_owner=row.lease_owner,
        lease_until=row.lease_until,
        errors=row.errors,
        failing_since=row.failing_since,
        warned=bool(row.warned),
        version=row.version,
        pending_post=json.loads(row.pending_post) if row.pending_post else None,
    )


class WatchStore:
    """Mixed into `Store`; uses its engine and session factory."""

    engine: AsyncEngine
    session: async_sessionmaker[Any]

    async def create_watch(self, new: NewWatch) -> None:
        values = dict(new.__dict__)
        values["last_reported"] = json.dumps(new.last_reported, sort_keys=True)
        async with self.session.begin() as s:
            s.add(WatchRow(**values, state="open", errors=0, warned=0, version=0))

    async def open_watch_for(self, workflow_id: str, channel_id: str) -> WatchRecord | None:
        async with self.session() as s:
            row = await s.scalar(
                select(WatchRow).where(
                    WatchRow.workflow_id == workflow_id,
                    WatchRow.channel_id == channel_id,
                    WatchRow.state == "open",
                )
            )
            return None if row is None else _watch(row)

    async def has_watch_for_approval(self, approval_id: str) -> bool:
        async with self.session() as s:
            found = await s.scalar(
                select(WatchRow.watch_id).where(WatchRow.approval_id == approval_id).limit(1)
            )
            return found is not None

    async def count_open_watches(self) -> int:
        async with self.session() as s:
            count = await s.scalar(
                select(func.count()).select_from(WatchRow).where(WatchRow.state == "open")
            )
            return int(count or 0)

    async def claim_due(
        self, owner: str, now: datetime, lease_until: datetime, limit: int
    ) -> list[WatchRecord]:
        """Take up to `limit` due watches whose lease is free or lapsed; lease them to `owner`."""
        due = (
            select(WatchRow.watch_id)
            .where(
                WatchRow.state == "open",
                WatchRow.next_due_at <= now,
                or_(WatchRow.lease_until.is_(None), WatchRow.lease_until < now),
            )
            .order_by(WatchRow.next_due_at)
            .limit(limit)
        )
        if self.engine.dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        statement = (
            update(WatchRow)
            .where(WatchRow.watch_id.in_(due.scalar_subquery()))
            .values(lease_owner=owner, lease_until=lease_until, version=WatchRow.version + 1)
            .returning(WatchRow)
            .execution_options(synchronize_session=False)
        )
        async with self.session.begin() as s:
            rows = (await s.scalars(statement)).all()
            return [_watch(r) for r in rows]

    async def advance_watch(self, watch_id: str, owner: str, version: int, **values: Any) -> bool:
        """Compare-and-set on (lease_owner, version); bumps version. False: lease lost."""
        if "last_reported" in values:
            values["last_reported"] = json.dumps(values["last_reported"], sort_keys=True)
        if values.get("pending_post") is not None:
            values["pending_post"] = json.dumps(values["pending_post"], sort_keys=True)
        if "warned" in values:
            values["warned"] = int(values["warned"])
        async with self.session.begin() as s:
            result = await s.execute(
                update(WatchRow)
                .where(
                    WatchRow.watch_id == watch_id,
                    WatchRow.lease_owner == owner,
                    WatchRow.version == version,
                )
                .values(version=version + 1, **values)
            )
            return bool(getattr(result, "rowcount", 0) == 1)

    async def release_quiet(self, owner: str, items: list[tuple[str, int, datetime]]) -> None:
        """Release many watches whose poll found nothing new, in one statement.

        Each item is (watch_id, version, next_due_at); a row whose lease or version moved on is
        left alone, exactly as `advance_watch` would. One executemany instead of a transaction
        per watch is what lets one process poll thousands of quiet watches.
        """
        if not items:
            return
        table = cast(Table, WatchRow.__table__)
        statement = (
            update(table)
            .where(
                table.c.watch_id == bindparam("w"),
                table.c.lease_owner == owner,
                table.c.version == bindparam("v"),
            )
            .values(
                next_due_at=bindparam("due", type_=UTCDateTime()),
                lease_until=None,
                version=bindparam("v") + 1,
            )
        )
        async with self.engine.begin() as conn:
            await conn.execute(statement, [{"w": w, "v": v, "due": d} for w, v, d in items])
