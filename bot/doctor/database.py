"""The database check: reachable, and its schema this release's, read without changing anything.

Uses the read-only engine `audit` uses: a missing SQLite file is reported, never created, and
PostgreSQL is read in read-only transactions. The URL is shown without its password. Imports
the store's read-only engine and schema state; nothing from Slack or the CCE client.
"""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from bot.doctor.checks import Check, Planned
from bot.store.read_only import NoDatabaseFile, read_only_engine
from bot.store.schema import schema_state

__all__ = ["UPGRADE_FIX", "database_check", "shown_url"]

NAME = "database"
UPGRADE_FIX = "run `cce-upgrade-bot db upgrade` (the bot also does it when it starts)"
CONNECT_FIX = (
    "check DATABASE_URL (host, port, user, password, database name) and that this host can "
    "reach the database"
)


def shown_url(url: str) -> str:
    """The URL as it may be printed: its password masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(DATABASE_URL is not a valid URL)"


async def _check(url: str) -> Check:
    shown = shown_url(url)
    try:
        engine = read_only_engine(url)
    except NoDatabaseFile as exc:
        return Check.failed(
            NAME,
            f"{exc}, so the bot has no state yet",
            f"run `cce-upgrade-bot db upgrade` to create it, or point DATABASE_URL at the "
            f"bot's database (now {shown})",
        )
    except (ArgumentError, ImportError) as exc:
        return Check.failed(NAME, f"{shown}: cannot be used ({exc})", CONNECT_FIX)
    try:
        state = await schema_state(engine)
    except (SQLAlchemyError, OSError) as exc:
        why = getattr(exc, "orig", None) or exc
        return Check.failed(NAME, f"cannot read {shown}: {type(why).__name__}: {why}", CONNECT_FIX)
    finally:
        await engine.dispose()
    kind = state.kind
    if kind == "current":
        return Check.passed(NAME, f"{shown} is reachable; schema current ({state.revision})")
    if kind == "empty":
        return Check.failed(NAME, f"{shown} is reachable but has no schema yet", UPGRADE_FIX)
    if kind == "older":
        return Check.failed(
            NAME,
            f"{shown}: schema revision {state.revision} is older than this release's "
            f"({state.expected})",
            UPGRADE_FIX,
        )
    return Check.failed(
        NAME,
        f"{shown}: schema revision {state.revision} is newer than this release knows "
        f"({state.expected})",
        "run the release that made it (a downgrade is not supported), or point DATABASE_URL at "
        "this release's database",
    )


def database_check(url: str) -> Planned:
    return Planned(NAME, lambda: _check(url), CONNECT_FIX)
