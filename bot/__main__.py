"""The `cce-upgrade-bot` command: run, simulator, demo, check, doctor, audit, db (SPEC §7)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from bot.config import ConfigError, Settings, load_config
from bot.logs import LOG_LEVELS, configure_logging
from bot.store import AuditRecord, Store, create_engine
from bot.store.read_only import NoDatabaseFile, read_only_engine
from bot.store.schema import SchemaState, schema_state
from bot.store.schema import upgrade as schema_upgrade

__all__ = ["main"]

logger = logging.getLogger("bot")


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        lines = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise ConfigError([f"environment: {line}" for line in lines]) from None


def _secret_values(settings: Settings) -> list[str]:
    """Every configured secret, for the log redaction (`bot.logs`)."""
    fields = (
        settings.slack_bot_token,
        settings.slack_signing_secret,
        settings.slack_app_token,
        settings.cloud_sdk_ak,  # an access key id alone is half a credential: not for logs
        settings.cloud_sdk_sk,
        settings.cloud_sdk_security_token,
        settings.cce_auth_token,
        settings.metrics_token,
    )
    return [f.get_secret_value() for f in fields if f is not None]


def cmd_check(args: argparse.Namespace) -> int:
    try:
        config = load_config(_settings(), mode="run")
    except ConfigError as exc:
        print(f"The configuration has {len(exc.problems)} problem(s):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    mode = "Socket Mode" if config.settings.slack_app_token else "HTTP"
    print(
        f"Configuration OK: {len(config.bot.clusters)} cluster alias(es), {mode} mode, "
        f"database {config.settings.database_url.split('://')[0]}."
    )
    for note in config.notes:
        print(f"  note: {note}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    try:
        settings = _settings()
        if args.port is not None:
            settings = settings.model_copy(update={"port": args.port})
        config = load_config(settings, mode="run")
    except ConfigError as exc:
        print("Cannot start: the configuration has problems:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format, _secret_values(settings))
    for note in config.notes:
        logger.warning("config.retired_key", extra={"detail": note})
    from bot.serve import serve_forever

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_forever(config, host=args.host))
    return 0


def cmd_simulator(args: argparse.Namespace) -> int:
    from bot.simulator import serve

    settings = _settings()
    credentials = None
    if settings.cloud_sdk_ak and settings.cloud_sdk_sk:
        credentials = {
            settings.cloud_sdk_ak.get_secret_value(): settings.cloud_sdk_sk.get_secret_value()
        }
    token = settings.cce_auth_token.get_secret_value() if settings.cce_auth_token else None
    if settings.log_level.upper() not in LOG_LEVELS:
        levels = ", ".join(LOG_LEVELS)
        raise ConfigError([f"LOG_LEVEL {settings.log_level!r} is not one of {levels}"])
    configure_logging(settings.log_level, settings.log_format, _secret_values(settings))
    serve(
        args.host,
        args.port,
        step_seconds=args.step_seconds,
        scenario_path=args.scenario,
        rollback_after_cancel=not args.no_rollback,
        credentials=credentials,
        token=token,
        tls=args.tls,
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from bot.demo import run_demo

    return asyncio.run(run_demo(verbose=args.verbose))


def _audit_line(r: AuditRecord) -> str:
    return json.dumps(
        {
            "at": r.at.isoformat(),
            "action": r.action,
            "actor": r.actor,
            "approval_id": r.approval_id,
            "cluster_id": r.cluster_id,
            "workflow_id": r.workflow_id,
            "request_id": r.request_id,
            **r.detail,
        },
        default=str,
    )


def cmd_audit(args: argparse.Namespace) -> int:
    """Print the audit log; read-only, it never creates or changes anything (SPEC §7)."""
    settings = _settings()
    try:
        since = datetime.fromisoformat(args.since) if args.since else None
    except ValueError:
        raise ConfigError([f"--since {args.since!r} is not an ISO time"]) from None

    async def read() -> tuple[list[AuditRecord], SchemaState]:
        store = Store(read_only_engine(settings.database_url))
        try:
            state = await schema_state(store.engine)
            records = await store.audit.read(
                workflow_id=args.workflow, cluster_id=args.cluster, since=since
            )
            return records, state
        finally:
            await store.dispose()

    try:
        records, state = asyncio.run(read())
    except NoDatabaseFile as exc:
        print(
            f"audit: {exc}, so there is no audit log to read (check DATABASE_URL)", file=sys.stderr
        )
        return 1
    except (SQLAlchemyError, OSError) as exc:
        why = getattr(exc, "orig", None) or exc
        print(f"audit: cannot read the audit log: {why}", file=sys.stderr)
        return 1
    if not state.current:
        print(f"audit: note: {state.describe()}; the log is read as it is", file=sys.stderr)
    for r in records:
        print(_audit_line(r))
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    """Bring the database schema to this version (what `run` also does at start)."""
    settings = _settings()

    async def upgrade() -> tuple[str | None, str]:
        store = Store(create_engine(settings.database_url))
        try:
            return await schema_upgrade(store.engine)
        finally:
            await store.dispose()

    try:
        before, now = asyncio.run(upgrade())
    except (SQLAlchemyError, OSError) as exc:
        why = getattr(exc, "orig", None) or exc
        print(f"db upgrade: cannot upgrade the database: {why}", file=sys.stderr)
        return 1
    if before == now:
        print(f"The database schema is current (revision {now}); nothing to do.")
    else:
        print(f"The database schema was upgraded: revision {before or 'none'} → {now}.")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    """Check the running config against the real services; 0 only when every check passes."""
    from bot.doctor import config_failed, diagnose, redact, render_json, render_text

    secrets: list[str] = []
    try:
        settings = _settings()
        secrets = _secret_values(settings)
        with contextlib.suppress(ArgumentError):
            secrets.append(make_url(settings.database_url).password or "")
        config = load_config(settings, mode="run")
    except ConfigError as exc:
        checks = [config_failed(exc.problems)]
    else:
        checks = asyncio.run(diagnose(config, each_within=args.timeout))
    checks = redact(checks, secrets)
    print(render_json(checks) if args.json else render_text(checks))
    return 0 if all(c.ok for c in checks) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cce-upgrade-bot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the bot (Socket Mode if SLACK_APP_TOKEN is set)")
    run.add_argument("--port", type=int, default=None, help="HTTP port (env PORT, default 3000)")
    run.add_argument("--host", default="0.0.0.0", help="address to listen on")  # noqa: S104
    run.set_defaults(func=cmd_run)
    sim = sub.add_parser("simulator", help="a local CCE Autopilot upgrade-workflow API")
    sim.add_argument("--port", type=int, default=8080)
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument(
        "--step-seconds",
        type=float,
        default=5.0,
        help="how long each simulated task step takes (default 5)",
    )
    sim.add_argument("--scenario", type=Path, default=None, help="JSON file of clusters")
    sim.add_argument(
        "--no-rollback", action="store_true", help="after a cancel, do not play out a Rollback task"
    )
    sim.add_argument(
        "--tls", action="store_true", help="serve HTTPS with a certificate made at start"
    )
    sim.set_defaults(func=cmd_simulator)
    demo = sub.add_parser("demo", help="the whole flow offline, printed as Slack would show it")
    demo.add_argument("--verbose", action="store_true", help="also print the bot's logs")
    demo.set_defaults(func=cmd_demo)
    check = sub.add_parser("check", help="validate the configuration and list every problem")
    check.set_defaults(func=cmd_check)
    doctor = sub.add_parser(
        "doctor", help="check the config against the real CCE API, Slack and the database"
    )
    doctor.add_argument("--json", action="store_true", help="print the checks as a JSON list")
    doctor.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        help="seconds each check may take (default 10)",
    )
    doctor.set_defaults(func=cmd_doctor)
    audit = sub.add_parser("audit", help="print the audit log as JSON lines")
    audit.add_argument("--workflow", default=None)
    audit.add_argument("--cluster", default=None)
    audit.add_argument("--since", default=None, help="ISO time, e.g. 2026-12-01T00:00:00+00:00")
    audit.set_defaults(func=cmd_audit)
    db = sub.add_parser("db", help="the database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_upgrade = db_sub.add_parser("upgrade", help="apply pending migrations (run does it too)")
    db_upgrade.set_defaults(func=cmd_db_upgrade)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
