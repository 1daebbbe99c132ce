"""How `doctor` prints its checks: one line each for people, or a JSON list for machines.

Every configured secret is masked in every text before printing, whatever put it there (the
checks never quote one; this is the second lock). Pure: checks in, text out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, replace

from bot.doctor.checks import Check

__all__ = ["redact", "render_json", "render_text"]

MASK = "***"


def redact(checks: Iterable[Check], secrets: Iterable[str]) -> list[Check]:
    """The checks with every secret in their texts replaced by `***` (longest first)."""
    hidden = sorted({s for s in secrets if s}, key=len, reverse=True)

    def clean(text: str | None) -> str | None:
        if text is None:
            return None
        for secret in hidden:
            text = text.replace(secret, MASK)
        return text

    return [
        replace(c, name=clean(c.name) or "", detail=clean(c.detail) or "", fix=clean(c.fix))
        for c in checks
    ]


def _mark(check: Check) -> str:
    if not check.ok:
        return "✗"
    return "!" if check.warning else "✓"


def render_text(checks: Sequence[Check]) -> str:
    """`✓ name: detail`, `! …` for a warning, `✗ …` for a failure, each fix under its line."""
    lines = []
    for check in checks:
        lines.append(f"{_mark(check)} {check.name}: {check.detail}")
        if check.fix:
            lines.append(f"    fix: {check.fix}")
    failed = sum(not c.ok for c in checks)
    warned = sum(c.warning for c in checks)
    if failed == 0 and warned == 0:
        lines.append(f"All {len(checks)} checks passed.")
    else:
        counts = [f"{failed} failed" if failed else "", f"{warned} warning(s)" if warned else ""]
        lines.append(f"{len(checks)} checks: {', '.join(c for c in counts if c)}.")
    return "\n".join(lines)


def render_json(checks: Sequence[Check]) -> str:
    """A JSON list of {name, ok, warning, detail, fix}, in the order the lines would print."""
    fields = ("name", "ok", "warning", "detail", "fix")
    # ASCII escapes: valid JSON whatever the reader's locale takes stdout to be.
    return json.dumps([{k: asdict(c)[k] for k in fields} for c in checks], indent=2)
