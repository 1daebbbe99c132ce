"""Delivery rows (SPEC §5a): a post that matters is written here before it is sent.

Inserting the row claims the send for its writer; a pending row whose claim has lapsed can be
claimed by another caller, who then settles it (looks for the post, sends only if absent).
The primary key on `key` makes every post once-only however many callers race on it.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError

from bot.domain.delivery import DeliveryRecord, NewDelivery
from bot.store.db import Database
from bot.store.records import dumps
from bot.store.tables import DeliveryRow

__all__ = ["DeliveryStore"]

PENDING, DELIVERED, REFUSED = "pending", "delivered", "refused"


def _delivery(row: DeliveryRow) -> DeliveryRecord:
    return DeliveryRecord(
        key=row.key,
        channel_id=row.channel_id,
        thread_ts=row.thread_ts,
        text=row.text,
        blocks=json.loads(row.blocks) if row.blocks else None,
        after=json.loads(row.after) if row.after else None,
        state=row.state,
        ts=row.ts,
        error=row.error,
        repeated=bool(row.repeated),
        created_at=row.created_at,
        owner=row.owner,
        owner_until=row.owner_until,
    )


class DeliveryStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, key: str) -> DeliveryRecord | None:
        async with self._db.session() as s:
            row = await s.get(DeliveryRow, key)
            return None if row is None else _delivery(row)

    async def insert(
        self, post: NewDelivery, *, owner: str, now: datetime, until: datetime
    ) -> bool:
        """Write the post before it is sent, claimed by `owner`; False if the key exists."""
        try:
            async with self._db.session.begin() as s:
                s.add(
                    DeliveryRow(
                        key=post.key,
                        channel_id=post.channel_id,
                        thread_ts=post.thread_ts,
                        text=post.text,
                        blocks=dumps(post.blocks) if post.blocks is not None else None,
                        after=dumps(post.after) if post.after is not None else None,
                        state=PENDING,
                        repeated=0,
                        created_at=now,
                        owner=owner,
                        owner_until=until,
                    )
                )
        except IntegrityError:
            return False
        return True

    async def claim(self, key: str, owner: str, now: datetime, until: datetime) -> bool:
        """Take over a pending or refused post whose claim is free, lapsed, or already ours."""
        statement = (
            update(DeliveryRow)
            .where(
                DeliveryRow.key == key,
                DeliveryRow.state.in_([PENDING, REFUSED]),
                or_(
                    DeliveryRow.owner_until.is_(None),
                    DeliveryRow.owner_until < now,
                    DeliveryRow.owner == owner,
                ),
            )
            .values(owner=owner, owner_until=until)
        )
        return await self._db.execute(statement) == 1

    async def delivered(self, key: str, ts: str, now: datetime, *, repeated: bool) -> None:
        await self._db.execute(
            update(DeliveryRow)
            .where(DeliveryRow.key == key)
            .values(
                state=DELIVERED,
                ts=ts,
                delivered_at=now,
                repeated=int(repeated),
                owner=None,
                owner_until=None,
            )
        )

    async def adopt(self, key: str, ts: str, now: datetime) -> bool:
        """The post was seen in the channel (a click came from it): delivered there."""
        statement = (
            update(DeliveryRow)
            .where(DeliveryRow.key == key, DeliveryRow.state != DELIVERED)
            .values(state=DELIVERED, ts=ts, delivered_at=now, owner=None, owner_until=None)
        )
        return await self._db.execute(statement) == 1

    async def refused(self, key: str, error: str) -> None:
        """Slack refused it: it surely is not in the channel; a later send may try again."""
        await self._db.execute(
            update(DeliveryRow)
            .where(DeliveryRow.key == key, DeliveryRow.state != DELIVERED)
            .values(state=REFUSED, error=error[:64], owner=None, owner_until=None)
        )

    async def reopen(self, key: str) -> None:
        """A refused post is about to be sent again: pending once more (outcome unknown)."""
        await self._db.execute(
            update(DeliveryRow)
            .where(DeliveryRow.key == key, DeliveryRow.state == REFUSED)
            .values(state=PENDING, error=None)
        )
