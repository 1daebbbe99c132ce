"""The package layout keeps its dependency direction (STYLE §2): checked on the source's imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SLACK = ("slack_bolt", "slack_sdk", "bot.slack", "handlers")
HTTP = ("httpx", "httpx_aiohttp", "aiohttp", "requests")
SQL = ("sqlalchemy", "aiosqlite", "asyncpg", "alembic", "bot.store")


def imports(path: Path) -> set[str]:
    """Every module a file imports (absolute names; relative imports are not used here)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def offending(package: str, banned: tuple[str, ...]) -> dict[str, set[str]]:
    bad: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        hits = {m for m in imports(path) if any(m == b or m.startswith(b + ".") for b in banned)}
        if hits:
            bad[str(path.relative_to(ROOT))] = hits
    return bad


@pytest.mark.parametrize(
    ("package", "banned"),
    [
        ("bot/domain", (*SLACK, *HTTP, *SQL, "bot.cce", "bot.approval", "bot.watch", "bot.app")),
        ("bot/cce", (*SLACK, *SQL, "bot.approval", "bot.watch", "bot.app")),
        ("bot/store", (*SLACK, *HTTP, "bot.approval", "bot.watch", "bot.app")),
        ("bot/slack", ("bot.approval", "bot.watch", "bot.store", "bot.app", "handlers")),
        # doctor reads through the clients and the store's read-only engine, never the use cases
        ("bot/doctor", ("bot.approval", "bot.watch", "bot.parts", "handlers")),
    ],
)
def test_imports_point_the_right_way(package: str, banned: tuple[str, ...]) -> None:
    """The domain knows no Slack, HTTP or SQL; the API client no Slack or store; and so on."""
    assert {} == offending(package, banned)


def test_handlers_stay_thin() -> None:
    """Handlers use the parts; they never run SQL or HTTP themselves."""
    assert {} == offending("handlers", (*SQL, *HTTP, "bot.cce.client"))
