"""The append-only audit log: who asked, who approved, what the API answered (with request ids)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select

from bot.store.db import Database
from bot.store.records import AuditRecord, dumps
from bot.store.tables import AuditRow

__all__ = ["AuditLog"]


class AuditLog:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(
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
        async with self._db.session.begin() as s:
            s.add(
                AuditRow(
                    at=at,
                    actor=actor,
                    action=action,
                    approval_id=approval_id,
                    cluster_id=cluster_id,
                    workflow_id=workflow_id,
                    request_id=request_id,
                    detail=dumps(detail),
                )
            )

    async def read(
        self,
        *,
        workflow_id: str | None = None,
        cluster_id: str | None = None,
        approval_id: str | None = None,
        since: datetime | None = None,
    ) -> list[AuditRecord]:
        query = select(AuditRow).order_by(AuditRow.id)
        if workflow_id:
            query = query.where(AuditRow.workflow_id == workflow_id)
        if cluster_id:
            query = query.where(AuditRow.cluster_id == cluster_id)
        if approval_id:
            query = query.where(AuditRow.approval_id == approval_id)
        if since:
            query = query.where(AuditRow.at >= since)
        async with self._db.session() as s:
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
