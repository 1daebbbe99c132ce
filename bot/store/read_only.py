"""An engine that can only read: for `audit` and `doctor`, which must never create, migrate or
write a database. Imports only SQLAlchemy and the store's engine factory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.db import create_engine

__all__ = ["NoDatabaseFile", "read_only_engine"]


class NoDatabaseFile(Exception):
    """The SQLite file does not exist: reading it would have created an empty one."""

    def __init__(self, path: str) -> None:
        super().__init__(f"the database file {path} does not exist")
        self.path = path


def read_only_engine(url: str) -> AsyncEngine:
    """An engine on `url` that cannot change the database, nor create one.

    SQLite is opened as a read-only URI (`mode=ro`): a missing file is `NoDatabaseFile` instead of
    a new empty database, and a read-only file or directory is fine. On PostgreSQL every
    connection's transactions are read-only (`SET SESSION CHARACTERISTICS AS TRANSACTION READ
    ONLY`).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        if parsed.database in (None, "", ":memory:") or not path.is_file():
            raise NoDatabaseFile(parsed.database or "(none)")
        uri = "file:" + quote(str(path.resolve()))
        read_only = parsed.set(database=uri, query={"mode": "ro", "uri": "true"})
        return create_engine(read_only.render_as_string(hide_password=False))
    engine = create_engine(url)

    @event.listens_for(engine.sync_engine, "connect")
    def _read_only(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        cursor.close()

    return engine
