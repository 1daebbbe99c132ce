"""`cce-upgrade-bot audit` only reads: it never creates, migrates or writes a database (SPEC §7)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from bot.__main__ import main
from bot.simulator import RunningSimulator
from bot.standin.stack import running_stack
from bot.store import create_engine
from tests.e2e import WF_FAILED, bot_yaml, cancel_failed_workflow


def _state(db: Path) -> tuple[str, list[str], set[str]]:
    """The file's digest, its directory's listing and its tables (read through a read-only URI)."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    listing = sorted(p.name for p in db.parent.iterdir())
    return hashlib.sha256(db.read_bytes()).hexdigest(), listing, tables


def _age_and_freeze(db: Path) -> None:
    """Drop a table (as if made by an older release), then make file and directory read-only."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute("DROP TABLE watches")
        conn.commit()
    db.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    db.parent.chmod(0o555)


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory made read-only (0555) after the test fills it; writable again at teardown."""
    folder = tmp_path / "ro"
    folder.mkdir()
    yield folder
    folder.chmod(0o755)
    for path in folder.iterdir():
        path.chmod(0o644)


async def test_audit_reads_a_read_only_database_and_changes_nothing(
    sim: RunningSimulator,
    read_only_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A file at 0444 in a directory at 0555: the audit log is printed; the file's bytes and the
    directory's listing are unchanged, and a table the bot would create is still absent.

    (Run as root, as CI is, the modes do not stop a write: the bytes and the missing table do.)
    """
    db = read_only_dir / "audit.db"
    url = f"sqlite+aiosqlite:///{db}"
    async with running_stack(sim, url, bot_yaml()) as stack:
        await cancel_failed_workflow(stack)
    _age_and_freeze(db)
    before = _state(db)

    monkeypatch.setenv("DATABASE_URL", url)
    assert 0 == await asyncio.to_thread(main, ["audit", "--workflow", WF_FAILED])

    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert ["cancel.accepted", "watch.started"] == [r["action"] for r in records[-2:]]
    after = _state(db)
    assert before == after  # the bytes, the directory (no journal, no new file), the tables
    assert "watches" not in after[2]


def test_audit_of_a_missing_file_says_so_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "nowhere.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{db}")
    assert 1 == main(["audit"])
    err = capsys.readouterr().err
    assert f"the database file {db} does not exist" in err
    assert "Traceback" not in err
    assert [] == list(tmp_path.iterdir())


async def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


async def test_audit_on_postgresql_reads_in_read_only_transactions(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An empty schema is read (nothing printed); with the tables gone, audit says it cannot
    read them and creates none."""
    from tests.conftest import fresh_postgres

    url = await fresh_postgres()
    monkeypatch.setenv("DATABASE_URL", url)
    assert 0 == await asyncio.to_thread(main, ["audit"])
    assert "" == capsys.readouterr().out

    engine = create_engine(url)
    async with engine.begin() as conn:
        for table in ("approvals", "audit_log", "watches", "approval_requests"):
            await conn.execute(text(f"DROP TABLE IF EXISTS {table} CASCADE"))
    await engine.dispose()
    kept = await _tables(url)
    assert 1 == await asyncio.to_thread(main, ["audit"])
    assert "audit: cannot read the audit log" in capsys.readouterr().err
    assert kept == await _tables(url)
    assert "audit_log" not in kept
