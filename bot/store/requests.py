"""Approval requests: each state change one conditional UPDATE, and the lease on their work.

A double click, a Slack retry or a second replica changes no rows and the database settles the
race (SPEC §3). `work` names what is left to do for a request; whoever holds its lease does it
and renews the lease while working, and another process takes the work over only once the lease
has lapsed (SPEC §5a).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.db import Database
from bot.store.records import ApprovalRecord, ApproveResult, NewApproval, Work, dumps, loads
from bot.store.tables import ApprovalRow, GivenApprovalRow

__all__ = ["RequestStore"]

PENDING, APPROVED = "pending", "approved"


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
        version=row.version,
        shown_version=row.shown_version,
        work=row.work,
        lease_owner=row.lease_owner,
        lease_until=row.lease_until,
        attempts=row.attempts,
        stuck_since=row.stuck_since,
        baseline=loads(row.baseline),
        answer=loads(row.answer),
    )


class _Closed(Exception):
    """Rolls the approving transaction back (a duplicate approval)."""


def _json_values(values: dict[str, Any]) -> dict[str, Any]:
    for name in ("summary", "baseline", "answer"):
        if isinstance(values.get(name), dict):
            values[name] = dumps(values[name])
    return values


class RequestStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, new: NewApproval, *, owner: str, lease_until: datetime) -> None:
        """Store a new pending request whose message is still to be posted (leased to `owner`)."""
        values = {k: v for k, v in new.__dict__.items() if k != "summary"}
        async with self._db.session.begin() as s:
            s.add(
                ApprovalRow(
                    **values,
                    state=PENDING,
                    summary=dumps(new.summary),
                    work=Work.POST,
                    lease_owner=owner,
                    lease_until=lease_until,
                    version=1,
                    shown_version=0,
                    attempts=0,
                )
            )

    async def get(self, approval_id: str) -> ApprovalRecord | None:
        async with self._db.session() as s:
            row = await s.get(ApprovalRow, approval_id)
            if row is None:
                return None
            return _record(row, await _approvers(s, approval_id))

    async def update(
        self, approval_id: str, *where: Any, owner: str | None = None, **values: Any
    ) -> bool:
        """One conditional UPDATE that changes what the request shows (its version moves on).

        `where` adds conditions; with `owner`, only the holder of the lease may write. True when
        it matched.
        """
        conditions = [ApprovalRow.approval_id == approval_id, *where]
        if owner is not None:
            conditions.append(ApprovalRow.lease_owner == owner)
        statement = (
            update(ApprovalRow)
            .where(*conditions)
            .values(version=ApprovalRow.version + 1, **_json_values(values))
        )
        return await self._db.execute(statement) == 1

    async def transition(
        self,
        approval_id: str,
        expected: str | Collection[str],
        new_state: str,
        *,
        owner: str | None = None,
        **values: Any,
    ) -> bool:
        """Compare-and-set the state; True only for the one caller whose update matched."""
        states = [expected] if isinstance(expected, str) else list(expected)
        matches = ApprovalRow.state.in_(states)
        return await self.update(approval_id, matches, owner=owner, state=new_state, **values)

    async def approve(
        self, approval_id: str, user_id: str, now: datetime, *, owner: str, lease_until: datetime
    ) -> ApproveResult:
        """Record one approval while the request is pending and unexpired, all in one
        transaction; the approval that completes the quorum also approves the request and
        leases its cancel to `owner`. The row lock of the first UPDATE orders concurrent clicks.
        """
        open_now = (
            ApprovalRow.approval_id == approval_id,
            ApprovalRow.state == PENDING,
            ApprovalRow.expires_at > now,
        )
        try:
            async with self._db.session.begin() as s:
                bumped = await s.execute(
                    update(ApprovalRow).where(*open_now).values(version=ApprovalRow.version + 1)
                )
                if getattr(bumped, "rowcount", 0) != 1:
                    row = await s.get(ApprovalRow, approval_id)
                    state = row.state if row is not None else "unknown"
                    if row is not None and state == PENDING:
                        state = "expired"  # pending, but past its time: the expiry job ends it
                    return ApproveResult(
                        "closed", state=state, decided_by=row.decided_by if row else None
                    )
                if user_id in await _approvers(s, approval_id):
                    raise _Closed()
                s.add(GivenApprovalRow(approval_id=approval_id, user_id=user_id, at=now))
                await s.flush()
                count = len(await _approvers(s, approval_id))
                required = int(
                    await s.scalar(
                        select(ApprovalRow.required).where(ApprovalRow.approval_id == approval_id)
                    )
                    or 1
                )
                if count < required:
                    return ApproveResult("recorded", count=count, state=PENDING)
                await s.execute(
                    update(ApprovalRow)
                    .where(ApprovalRow.approval_id == approval_id)
                    .values(
                        state=APPROVED,
                        decided_by=user_id,
                        decided_at=now,
                        baseline=ApprovalRow.summary,
                        work=Work.SEND,
                        lease_owner=owner,
                        lease_until=lease_until,
                        attempts=0,
                        stuck_since=None,
                        next_attempt_at=None,
                    )
                )
                return ApproveResult("approved", count=count, state=APPROVED, decided_by=user_id)
        except _Closed:
            return ApproveResult("duplicate", state=PENDING)

    # -- the lease on a request's work ------------------------------------------------------

    async def claimable(self, now: datetime, limit: int) -> list[str]:
        """Requests with work left whose lease is free or lapsed and whose next try is due."""
        query = (
            select(ApprovalRow.approval_id)
            .where(
                ApprovalRow.work.is_not(None),
                or_(ApprovalRow.lease_until.is_(None), ApprovalRow.lease_until < now),
                or_(ApprovalRow.next_attempt_at.is_(None), ApprovalRow.next_attempt_at <= now),
            )
            .order_by(ApprovalRow.created_at)
            .limit(limit)
        )
        async with self._db.session() as s:
            return list(await s.scalars(query))

    async def claim(self, approval_id: str, owner: str, now: datetime, until: datetime) -> bool:
        """Take the lease on a request's work if it is free or has lapsed."""
        statement = (
            update(ApprovalRow)
            .where(
                ApprovalRow.approval_id == approval_id,
                ApprovalRow.work.is_not(None),
                or_(ApprovalRow.lease_until.is_(None), ApprovalRow.lease_until < now),
            )
            .values(lease_owner=owner, lease_until=until)
        )
        return await self._db.execute(statement) == 1

    async def renew(self, owner: str, approval_ids: Collection[str], until: datetime) -> set[str]:
        """Extend `owner`'s leases; the ids it still holds."""
        if not approval_ids:
            return set()
        statement = (
            update(ApprovalRow)
            .where(
                ApprovalRow.approval_id.in_(list(approval_ids)), ApprovalRow.lease_owner == owner
            )
            .values(lease_until=until)
            .returning(ApprovalRow.approval_id)
        )
        async with self._db.session.begin() as s:
            return set((await s.scalars(statement)).all())

    async def set_work(self, approval_id: str, owner: str, work: str | None) -> bool:
        """Name what is left to do (the lease holder only; what the message shows is unchanged)."""
        statement = (
            update(ApprovalRow)
            .where(ApprovalRow.approval_id == approval_id, ApprovalRow.lease_owner == owner)
            .values(work=work)
        )
        return await self._db.execute(statement) == 1

    async def release(self, approval_id: str, owner: str, **values: Any) -> bool:
        """Give the lease up (work done, or to be tried again later), writing `values` too."""
        statement = (
            update(ApprovalRow)
            .where(ApprovalRow.approval_id == approval_id, ApprovalRow.lease_owner == owner)
            .values(lease_owner=None, lease_until=None, **_json_values(values))
        )
        return await self._db.execute(statement) == 1

    # -- the message ------------------------------------------------------------------------

    async def set_message_ts(self, approval_id: str, ts: str) -> bool:
        """Record where the request message is, once; its posting is no longer work to do."""
        statement = (
            update(ApprovalRow)
            .where(ApprovalRow.approval_id == approval_id, ApprovalRow.message_ts.is_(None))
            .values(
                message_ts=ts,
                work=case((ApprovalRow.work == Work.POST, None), else_=ApprovalRow.work),
            )
        )
        return await self._db.execute(statement) == 1

    async def mark_shown(self, approval_id: str, version: int, at: datetime) -> None:
        """The message now shows `version` (never moves back)."""
        await self._db.execute(
            update(ApprovalRow)
            .where(ApprovalRow.approval_id == approval_id, ApprovalRow.shown_version < version)
            .values(shown_version=version, shown_at=at)
        )

    # -- lists ------------------------------------------------------------------------------

    async def due_for_expiry(self, now: datetime) -> list[str]:
        async with self._db.session() as s:
            ids = await s.scalars(
                select(ApprovalRow.approval_id).where(
                    ApprovalRow.state == PENDING, ApprovalRow.expires_at <= now
                )
            )
            return list(ids)

    async def in_state(self, state: str, *, limit: int = 50) -> list[ApprovalRecord]:
        """Requests in `state`, newest first."""
        query = (
            select(ApprovalRow)
            .where(ApprovalRow.state == state)
            .order_by(ApprovalRow.created_at.desc())
            .limit(limit)
        )
        async with self._db.session() as s:
            return [_record(r, await _approvers(s, r.approval_id)) for r in await s.scalars(query)]

    async def ended(self, states: Collection[str], *, limit: int = 10) -> list[ApprovalRecord]:
        """The latest requests that ended in one of `states`, newest decision first."""
        query = (
            select(ApprovalRow)
            .where(ApprovalRow.state.in_(list(states)))
            .order_by(func.coalesce(ApprovalRow.decided_at, ApprovalRow.created_at).desc())
            .limit(limit)
        )
        async with self._db.session() as s:
            return [_record(r, await _approvers(s, r.approval_id)) for r in await s.scalars(query)]


async def _approvers(s: AsyncSession, approval_id: str) -> list[str]:
    users = await s.scalars(
        select(GivenApprovalRow.user_id)
        .where(GivenApprovalRow.approval_id == approval_id)
        .order_by(GivenApprovalRow.at, GivenApprovalRow.user_id)
    )
    return list(users)
