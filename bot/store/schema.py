"""Versioned schema: Alembic migrations, applied by `cce-upgrade-bot db upgrade` and at start.

A database made by release 0.1.0 has the tables but no version table: it is recognised,
stamped as revision 0001 (that release's schema), and upgraded in place, losing nothing. On
PostgreSQL the upgrade holds an advisory lock, so two replicas starting together migrate once.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["BASELINE", "SchemaState", "head", "schema_state", "upgrade"]

logger = logging.getLogger(__name__)

BASELINE = "0001"  # release 0.1.0
_MIGRATIONS = Path(__file__).parent / "migrations"
_LOCK_ID = 0x6363_6575  # "cceu": the advisory lock migrations hold on PostgreSQL


def _alembic(connection: Connection | None = None) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    """The revision this version of the bot expects."""
    revision = ScriptDirectory.from_config(_alembic()).get_current_head()
    if revision is None:  # pragma: no cover - the package ships its migrations
        raise RuntimeError("no migrations found")
    return revision


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _upgrade(connection: Connection) -> tuple[str | None, str]:
    tables = set(inspect(connection).get_table_names())
    before = _current(connection) if "alembic_version" in tables else None
    if before is None and "approval_requests" in tables:
        logger.info("store.schema.adopted", extra={"status": "release 0.1.0"})
        command.stamp(_alembic(connection), BASELINE)
        before = BASELINE
    command.upgrade(_alembic(connection), "head")
    return before, head()


async def upgrade(engine: AsyncEngine) -> tuple[str | None, str]:
    """Bring the schema to this version's head; (revision before, revision now)."""
    async with engine.connect() as conn:
        postgres = engine.dialect.name == "postgresql"
        if postgres:
            await conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _LOCK_ID})
            await conn.commit()
        try:
            before, now = await conn.run_sync(_upgrade)
            await conn.commit()
        finally:
            if postgres:
                await conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _LOCK_ID})
                await conn.commit()
    if before != now:
        logger.info("store.schema.upgraded", extra={"status": f"{before or 'empty'} → {now}"})
    return before, now


class SchemaState:
    """Where a database stands against this version: current, older, newer or empty."""

    def __init__(self, revision: str | None, expected: str) -> None:
        self.revision = revision
        self.expected = expected

    @property
    def current(self) -> bool:
        return self.revision == self.expected

    @property
    def kind(self) -> str:
        """`current`, `empty` (no schema), `older` (`db upgrade` helps) or `newer` (it does not)."""
        if self.current:
            return "current"
        if self.revision is None:
            return "empty"
        known = {s.revision for s in ScriptDirectory.from_config(_alembic()).walk_revisions()}
        return "older" if self.revision in known else "newer"

    def describe(self) -> str:
        kind = self.kind
        if kind == "current":
            return f"schema is current (revision {self.expected})"
        if kind == "empty":
            return "no schema yet: run `cce-upgrade-bot db upgrade` (or start the bot)"
        if kind == "older":
            return (
                f"schema is older than this release (revision {self.revision}, this release "
                f"expects {self.expected}): run `cce-upgrade-bot db upgrade`"
            )
        return (
            f"schema revision {self.revision} is newer than this release knows "
            f"({self.expected}): run the newer release"
        )


async def schema_state(engine: AsyncEngine) -> SchemaState:
    """Read the database's revision without changing anything (audit, doctor, readiness)."""

    def read(connection: Connection) -> str | None:
        tables = set(inspect(connection).get_table_names())
        if "alembic_version" in tables:
            return _current(connection)
        return BASELINE if "approval_requests" in tables else None

    async with engine.connect() as conn:
        revision = await conn.run_sync(read)
    return SchemaState(revision, head())
