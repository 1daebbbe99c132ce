"""Persistence: approval requests, approvals given, the audit log and watches.

SQLAlchemy 2 async, SQLite by default and PostgreSQL for several replicas. Every state change is
one conditional UPDATE (`… WHERE approval_id = :id AND state = :expected`), so a double click or
a second replica changes no rows and the database settles the race. The schema is created on
start (`create_all`), and nullable columns added since a database was created are added to it
(`_add_missing_columns`); anything more than that will need a migration tool.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, inspect, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from bot.store.records import ApprovalRecord, AuditRecord, NewApproval, NewWatch, WatchRecord
from bot.store.tables import ApprovalRow, AuditRow, Base, GivenApprovalRow
from bot.store.watches import WatchStore

__all__ = [
    "ApprovalRecord",
    "AuditRecord",
    "NewApproval",
    "NewWatch",
    "Store",
    "WatchRecord",
    "create_engine",
]


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An engine tuned for the dialect: SQLite waits on its lock instead of failing at once."""
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": 30})
    else:
        kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


def _record(row: ApprovalRow, approved_by: Sequence[str] = ()) -> ApprovalRecord:
    return ApprovalRecord(
        approval_id=row.approval_id,
        state=row.state,
        cluster_alias=row.cluster_alias,
        project_id=row.project_id,
        cluster_id=row.cluster_id,
        endpoint=row.endpoint,
        workflow_id=row.workflow_id,
        requester_id=row.requester_id,
        channel_id=row.channel_id,
        message_ts=row.message_ts,
        reason=row.reason,
        required=row.required,
        summary=json.loads(row.summary or "{}"),
        created_at=row.created_at,
        expires_at=row.expires_at,
        decided_at=row.decided_at,
        decided_by=row.decided_by,
        cancel_request_id=row.cancel_request_id,
        outcome=row.outcome,
        cancel_sent_at=row.cancel_sent_at,
        approved_by=tuple(approved_by),
        shown_at=row.shown_at,
    )


# What a column added to an existing database starts as, when NULL would be wrong for old rows.
BACKFILL = {
    # Requests an earlier version ended were shown by it; the recovery job must not show them.
    ("approval_requests", "shown_at"): "UPDATE approval_requests SET shown_at = decided_at",
}


def _add_missing_columns(conn: Connection) -> None:
    """Add the nullable columns a database made by an earlier version lacks, and backfill."""
    inspector = inspect(conn)
    for table in Base.metadata.sorted_tables:
        present = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present or not column.nullable:
                continue
            kind = column.type.compile(dialect=conn.dialect)
            conn.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))
            if backfill := BACKFILL.get((table.name, column.name)):
                conn.execute(text(backfill))


class Store(WatchStore):
    """The bot's database. One per process; `dispose()` on shutdown."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.session = async_sessionmaker(engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    async def create_schema(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
            await conn.run_sync(_add_missing_columns)

    async def ping(self) -> bool:
        """True when the database answers (for /readyz)."""
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:  # any failure means "not ready"
            return False
        return True

    async def dispose(self) -> None:
        await self.engine.dispose()

    # -- approval requests ------------------------------------------------------------------

    async def create_request(self, new: NewApproval) -> None:
        values = {k: v for k, v in new.__dict__.items() if k != "summary"}
        async with self.session.begin() as s:
            s.add(
                ApprovalRow(
                    **values,
                    state="pending",
                    summary=ApprovalRecord.summary_json(new.summary),
                )
            )

    async def get_request(self, approval_id: str) -> ApprovalRecord | None:
        async with self.session() as s:
            row = await s.get(ApprovalRow, approval_id)
            if row is None:
                return None
            users = await s.scalars(
                select(GivenApprovalRow.user_id)
                .where(GivenApprovalRow.approval_id == approval_id)
                .order_by(GivenApprovalRow.at, GivenApprovalRow.user_id)
            )
            return _record(row, list(users))

    async def _update(self, approval_id: str, *where: Any, **values: Any) -> bool:
        """One conditional UPDATE of a request; True when it matched (the row and `where`)."""
        async with self.session.begin() as s:
            result = await s.execute(
                update(ApprovalRow)
                .where(ApprovalRow.approval_id == approval_id, *where)
                .values(**values)
            )
            return bool(getattr(result, "rowcount", 0) == 1)

    async def set_message_ts(self, approval_id: str, message_ts: str) -> None:
        await self._update(approval_id, message_ts=message_ts)

    async def set_message_ts_if_unset(self, approval_id: str, message_ts: str) -> bool:
        """Record a pending request's message found after a restart; False if one is recorded."""
        return await self._update(
            approval_id,
            ApprovalRow.state == "pending",
            ApprovalRow.message_ts.is_(None),
            message_ts=message_ts,
        )

    async def set_summary(self, approval_id: str, summary_json: str) -> None:
        await self._update(approval_id, summary=summary_json)

    async def transition(
        self, approval_id: str, expected: str | Sequence[str], new_state: str, **values: Any
    ) -> bool:
        """Compare-and-set the state; True only for the one caller whose update matched."""
        states = [expected] if isinstance(expected, str) else list(expected)
        matches = ApprovalRow.state.in_(states)
        return await self._update(approval_id, matches, state=new_state, **values)

    async def add_approval(self, approval_id: str, user_id: str, at: datetime) -> int | None:
        """Record one approval; return how many distinct approvals there now are.

        None when this user had already approved (the primary key refuses a second row).
        """
        try:
            async with self.session.begin() as s:
                await s.execute(
                    insert(GivenApprovalRow).values(approval_id=approval_id, user_id=user_id, at=at)
                )
        except IntegrityError:
            return None
        async with self.session() as s:
            count = await s.scalar(
                select(func.count()).where(GivenApprovalRow.approval_id == approval_id)
            )
        return int(count or 0)

    async def due_for_expiry(self, now: datetime) -> list[str]:
        async with self.session() as s:
            ids = await s.scalars(
                select(ApprovalRow.approval_id).where(
                    ApprovalRow.state == "pending", ApprovalRow.expires_at <= now
                )
            )
            return list(ids)

    async def requests_in_state(
        self, state: str, *, since: datetime | None = None
    ) -> list[ApprovalRecord]:
        """Requests in `state`; with `since`, only those decided or sent since then (the
        recovery job's look at ended states must not grow with the whole history)."""
        query = select(ApprovalRow).where(ApprovalRow.state == state)
        if since is not None:
            query = query.where(
                or_(ApprovalRow.decided_at >= since, ApprovalRow.cancel_sent_at >= since)
            )
        async with self.session() as s:
            return [_record(r) for r in await s.scalars(query)]

    async def unshown(self, states: Sequence[str], since: datetime) -> list[ApprovalRecord]:
        """Posted requests that reached one of `states` after `since` and were never shown so."""
        async with self.session() as s:
            rows = await s.scalars(
                select(ApprovalRow).where(
                    ApprovalRow.state.in_(states),
                    ApprovalRow.shown_at.is_(None),
                    ApprovalRow.message_ts.is_not(None),
                    ApprovalRow.decided_at >= since,
                )
            )
            return [_record(r) for r in rows]

    async def mark_shown(self, approval_id: str, at: datetime) -> None:
        await self._update(approval_id, shown_at=at)

    # -- audit log --------------------------------------------------------------------------

    async def audit(
        self,
        *,
        at: datetime,
        actor: str,
        action: str,
        approval_id: str | None = None,
        cluster_id: str | None = None,
        workflow_id: str | None = None,
        request_id: str | None = None,
        **detail: Any,
    ) -> None:
        async with self.session.begin() as s:
            s.add(
                AuditRow(
                    at=at,
                    actor=actor,
                    action=action,
                    approval_id=approval_id,
                    cluster_id=cluster_id,
                    workflow_id=workflow_id,
                    request_id=request_id,
                    detail=json.dumps(detail, sort_keys=True, default=str),
                )
            )

    async def audit_log(
        self,
        *,
        workflow_id: str | None = None,
        cluster_id: str | None = None,
        since: datetime | None = None,
    ) -> list[AuditRecord]:
        query = select(AuditRow).order_by(AuditRow.id)
        if workflow_id:
            query = query.where(AuditRow.workflow_id == workflow_id)
        if cluster_id:
            query = query.where(AuditRow.cluster_id == cluster_id)
        if since:
            query = query.where(AuditRow.at >= since)
        async with self.session() as s:
            rows = await s.scalars(query)
            return [
                AuditRecord(
                    r.at,
                    r.approval_id,
                    r.actor,
                    r.action,
                    r.cluster_id,
                    r.workflow_id,
                    r.request_id,
                    json.loads(r.detail or "{}"),
                )
                for r in rows
            ]
