"""Shared fixtures: a clean environment for every test, and the test databases."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

# Imported up front: hypothesis' pytest plugin otherwise imports it while the session ends, and
# on CPython 3.11.7 that late import's ast.parse can fail with "AST constructor recursion depth
# mismatch" when a worker thread (aiosqlite's) is still compiling.
import hypothesis  # noqa: F401
import pytest

from bot.simulator import RunningSimulator, running_simulator
from bot.standin.stack import SIM_TOKEN

_CLEARED_PREFIXES = ("SLACK_", "CLOUD_SDK_", "HUAWEICLOUD_", "CCE_", "BOT_", "DATABASE_URL")
_PROXIES = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test sees the developer's Slack/CCE settings or a proxy (slack_sdk ignores NO_PROXY)."""
    for name in list(os.environ):
        if name.startswith(_CLEARED_PREFIXES) or name in _PROXIES:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SKIP_SLACK_SDK_WARNING", "1")
    yield


# -- databases ------------------------------------------------------------------------------

PG_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


async def _postgres_ready(url: str) -> str | None:
    from sqlalchemy import text

    from bot.store import create_engine

    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure: report why
        return f"{type(exc).__name__}: {exc}"
    finally:
        await engine.dispose()
    return None


async def fresh_postgres(*, empty: bool = False) -> str:
    """The PostgreSQL test database, emptied and migrated to this version's schema (`empty`:
    left without any table). Skips, or fails under REQUIRE_POSTGRES=1, when it is absent."""
    problem = await _postgres_ready(PG_URL)
    if problem is not None:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required (REQUIRE_POSTGRES=1) but unusable: {problem}")
        pytest.skip(f"PostgreSQL not available: {problem}")
    from sqlalchemy import text

    from bot.store import Store, create_engine

    store = Store(create_engine(PG_URL))
    try:
        # Start from nothing: the database outlives test runs, and a test may leave any schema.
        async with store.engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        if not empty:
            await store.migrate()
    finally:
        await store.dispose()
    return PG_URL


@pytest.fixture(params=["sqlite", "postgres"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A clean database of each kind: a SQLite file under tmp_path, and PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    return await fresh_postgres()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"


# -- the CCE simulator ----------------------------------------------------------------------


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    """The simulator with its default scenario, checking the stand-in stack's IAM token."""
    async with running_simulator(token=SIM_TOKEN) as running:
        yield running
