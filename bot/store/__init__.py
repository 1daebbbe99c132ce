"""Persistence: approval requests, approvals given, the audit log, watches and deliveries.

SQLAlchemy 2 async, SQLite by default and PostgreSQL for several replicas. `Store` is composed
of one part per table family, sharing one `Database` (engine and sessions). The schema is
versioned with Alembic (`bot.store.schema`); `start()` brings it to this version's head.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.domain.delivery import DeliveryRecord, NewDelivery
from bot.store.alerts import AlertStore
from bot.store.audit import AuditLog
from bot.store.db import Database, create_engine
from bot.store.deliveries import DeliveryStore
from bot.store.records import (
    ApprovalRecord,
    ApproveResult,
    AuditRecord,
    NewApproval,
    NewWatch,
    WatchRecord,
    Work,
)
from bot.store.requests import RequestStore
from bot.store.schema import schema_state, upgrade
from bot.store.watches import WatchStore

__all__ = [
    "ApprovalRecord",
    "ApproveResult",
    "AuditRecord",
    "DeliveryRecord",
    "NewApproval",
    "NewDelivery",
    "NewWatch",
    "Store",
    "WatchRecord",
    "Work",
    "create_engine",
    "schema_state",
]


class Store:
    """The bot's database. One per process; `dispose()` on shutdown."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.db = Database(engine)
        self.requests = RequestStore(self.db)
        self.watches = WatchStore(self.db)
        self.deliveries = DeliveryStore(self.db)
        self.audit = AuditLog(self.db)
        self.alerts = AlertStore(self.db)

    @property
    def engine(self) -> AsyncEngine:
        return self.db.engine

    async def migrate(self) -> None:
        """Bring the schema to this version (safe with several replicas on PostgreSQL)."""
        await upgrade(self.db.engine)

    async def ping(self) -> bool:
        return await self.db.ping()

    async def dispose(self) -> None:
        await self.db.dispose()
