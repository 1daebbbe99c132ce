"""Durations as people write them in the config: `30m`, `10s`, `3h`, `1h30m`, or seconds."""

from __future__ import annotations

import re
from datetime import timedelta

__all__ = ["format_duration", "parse_duration"]

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: object) -> timedelta:
    """Parse `value`; raise ValueError with a plain explanation when it is not a duration."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration (e.g. 30s, 10m, 3h)")
    if isinstance(value, int | float):
        if value <= 0:
            raise ValueError(f"{value!r} is not a positive duration")
        return timedelta(seconds=value)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a duration (e.g. 30s, 10m, 3h)")
    text = value.strip().lower()
    pos, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match[1]) * _UNITS[match[2]]
        pos = match.end()
    if not text or pos != len(text):
        raise ValueError(f"{value!r} is not a duration (e.g. 30s, 10m, 3h, 1h30m)")
    if total <= 0:
        raise ValueError(f"{value!r} is not a positive duration")
    return timedelta(seconds=total)


def format_duration(value: timedelta) -> str:
    """`1h 30m`, `45s`: short and readable."""
    seconds = int(value.total_seconds())
    if seconds < 60:
        return f"{max(seconds, 0)}s"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else ""]
    if secs and not hours:
        parts.append(f"{secs}s")
    return " ".join(p for p in parts if p)
