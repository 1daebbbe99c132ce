"""The engine, sessions and the one conditional-update helper every store part shares."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

__all__ = ["Database", "create_engine"]


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An engine tuned for the dialect: SQLite waits on its lock instead of failing at once."""
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": 30})
    else:
        kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


class Database:
    """One engine and its session factory, shared by the store's parts."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.session = async_sessionmaker(engine, expire_on_commit=False)

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

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

    async def execute(self, statement: Any) -> int:
        """Run one write in its own transaction; the number of rows it matched."""
        async with self.session.begin() as s:
            result = await s.execute(statement)
            return int(getattr(result, "rowcount", 0) or 0)
