"""Watch rows: created (one open per workflow and thread), claimed with a lease, advanced with
compare-and-set, closed.

On PostgreSQL the claim uses `FOR UPDATE SKIP LOCKED`, so replicas never claim the same due
watch; a lease (`lease_until`), renewed while a poll runs, hands a dead replica's watches over
once it lapses. Every write after a claim checks `lease_owner` and `version`, so a replica that
lost its lease writes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from bot.store.db import Database
from bot.store.records import NewWatch, WatchRecord, dumps
from bot.store.tables import UTCDateTime, WatchRow

__all__ = ["WatchStore"]

OPEN = "open"
# The table itself, for the Core statements a tick runs over many rows (no ORM objects).
_WATCHES = cast(Table, WatchRow.__table__)


def _watch(row: WatchRow | Row[Any]) -> WatchRecord:
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
        posts=row.posts,
        pending_key=row.pending_key,
        cancel_seen_at=row.cancel_seen_at,
    )


class WatchStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, new: NewWatch) -> str | None:
        """Open a watch; None when one is already open for this workflow in this thread (the
        unique index decides, so a live path and a recovery racing open one between them)."""
        values = dict(new.__dict__)
        values["last_reported"] = dumps(new.last_reported)
        try:
            async with self._db.session.begin() as s:
                s.add(WatchRow(**values, state=OPEN, errors=0, warned=0, version=0, posts=0))
        except IntegrityError:
            return None
        return new.watch_id

    async def open_for(
        self, workflow_id: str, channel_id: str, thread_ts: str | None = None
    ) -> WatchRecord | None:
        query = select(WatchRow).where(
            WatchRow.workflow_id == workflow_id,
            WatchRow.channel_id == channel_id,
            WatchRow.state == OPEN,
        )
        if thread_ts is not None:
            query = query.where(WatchRow.thread_ts == thread_ts)
        async with self._db.session() as s:
            row = await s.scalar(query.limit(1))
            return None if row is None else _watch(row)

    async def open_watches(self, *, limit: int = 50) -> list[WatchRecord]:
        """Open watches, newest first (App Home lists them)."""
        query = (
            select(WatchRow)
            .where(WatchRow.state == OPEN)
            .order_by(WatchRow.started_at.desc())
            .limit(limit)
        )
        async with self._db.session() as s:
            return [_watch(r) for r in await s.scalars(query)]

    async def count_open(self) -> int:
        async with self._db.session() as s:
            count = await s.scalar(
                select(func.count()).select_from(WatchRow).where(WatchRow.state == OPEN)
            )
            return int(count or 0)

    async def claim_due(
        self, owner: str, now: datetime, lease_until: datetime, limit: int
    ) -> list[WatchRecord]:
        """Take up to `limit` due watches whose lease is free or lapsed; lease them to `owner`."""
        due = (
            select(WatchRow.watch_id)
            .where(
                WatchRow.state == OPEN,
                WatchRow.next_due_at <= now,
                or_(WatchRow.lease_until.is_(None), WatchRow.lease_until < now),
            )
            .order_by(WatchRow.next_due_at)
            .limit(limit)
        )
        if self._db.is_postgres:
            due = due.with_for_update(skip_locked=True)
        # Core rows, not ORM objects: a tick claims hundreds, and the identity map buys nothing.
        table = _WATCHES
        statement = (
            update(table)
            .where(table.c.watch_id.in_(due.scalar_subquery()))
            .values(lease_owner=owner, lease_until=lease_until, version=table.c.version + 1)
            .returning(*table.c)
        )
        async with self._db.engine.begin() as conn:
            rows = (await conn.execute(statement)).all()
            return [_watch(r) for r in rows]

    async def renew(self, owner: str, watch_ids: Collection[str], until: datetime) -> None:
        """Extend `owner`'s leases on the watches it is still polling (one statement)."""
        if watch_ids:
            await self._db.execute(
                update(WatchRow)
                .where(WatchRow.watch_id.in_(list(watch_ids)), WatchRow.lease_owner == owner)
                .values(lease_until=until)
            )

    async def advance(self, watch_id: str, owner: str, version: int, **values: Any) -> bool:
        """Compare-and-set on (lease_owner, version); bumps version. False: lease lost."""
        if "last_reported" in values:
            values["last_reported"] = dumps(values["last_reported"])
        if "warned" in values:
            values["warned"] = int(values["warned"])
        return (
            await self._db.execute(
                update(WatchRow)
                .where(
                    WatchRow.watch_id == watch_id,
                    WatchRow.lease_owner == owner,
                    WatchRow.version == version,
                )
                .values(version=version + 1, **values)
            )
            == 1
        )

    async def release_quiet(self, owner: str, items: list[tuple[str, int, datetime]]) -> None:
        """Release many watches whose poll found nothing new, in one statement.

        Each item is (watch_id, version, next_due_at); a row whose lease or version moved on is
        left alone, exactly as `advance` would. One executemany instead of a transaction per
        watch is what lets one process poll thousands of quiet watches.
        """
        if not items:
            return
        table = _WATCHES
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
        async with self._db.engine.begin() as conn:
            await conn.execute(statement, [{"w": w, "v": v, "due": d} for w, v, d in items])
