"""`cce-upgrade-bot doctor` (SPEC §10.4): a live pre-flight against the real services.

Per project and cluster one read-only CCE call (credentials, endpoint, project, latency) and the
gateway's clock against this host's; Slack's token, scopes, channels and approvers; the
database and its schema. Each check is independent, bounded by a timeout, and never raises: a
failure is a failed `Check` saying what to do. Nothing here writes anywhere.

    checks.py      `Check`, the runner (a timeout per check), `Shared` (one call, several readers)
    cce.py         projects, the gateway's clock, cluster aliases (cce_errors.py: what each means)
    clock.py       the clock-skew thresholds
    slack.py       token, scopes, channels, approver users and groups
    database.py    reachable, schema current
    report.py      one line per check or JSON, secrets masked
    run.py         one run: read-only clients built, every check run, everything closed
"""

from __future__ import annotations

from bot.doctor.checks import Check
from bot.doctor.report import redact, render_json, render_text
from bot.doctor.run import DEFAULT_TIMEOUT, config_failed, diagnose

__all__ = [
    "DEFAULT_TIMEOUT",
    "Check",
    "config_failed",
    "diagnose",
    "redact",
    "render_json",
    "render_text",
]
