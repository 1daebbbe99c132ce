"""Render what the Slack stand-in saw as a person would read it in Slack: who said what, buttons
as buttons, thread replies indented. Pure text; used by the offline demo."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping
from typing import Any

__all__ = ["render_blocks", "render_mrkdwn"]

_EMOJI = {
    "rotating_light": "🚨",
    "white_check_mark": "✅",
    "x": "❌",
    "white_circle": "⚪",
    "arrows_counterclockwise": "🔄",
    "hourglass_flowing_sand": "⏳",
    "octagonal_sign": "🛑",
    "no_entry_sign": "🚫",
    "no_entry": "⛔",
    "warning": "⚠️",
    "alarm_clock": "⏰",
    "eyes": "👀",
    "checkered_flag": "🏁",
    "arrow_right": "➡️",
    "zzz": "💤",
    "grey_question": "❔",
    "double_vertical_bar": "⏸",
}


def render_mrkdwn(text: str, names: Mapping[str, str]) -> str:
    """Slack mrkdwn to plain text: mentions by name, dates by their fallback, links by their
    label, emoji as emoji."""
    text = re.sub(r"<@([A-Z0-9]+)>", lambda m: "@" + names.get(m[1], m[1]), text)
    text = re.sub(r"<#([A-Z0-9]+)(\|[^>]*)?>", lambda m: "#" + m[1].lower(), text)
    text = re.sub(r"<(https?://[^|>]+)\|([^>]+)>", r"\2 ↗", text)
    text = re.sub(r"<!date\^\d+\^[^|>]*\|([^>]*)>", r"\1", text)
    text = re.sub(r":([a-z_]+):", lambda m: _EMOJI.get(m[1], m[0]), text)
    text = text.replace("*", "").replace("`", "")
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _text(obj: Any, names: Mapping[str, str]) -> str:
    if not isinstance(obj, dict):
        return ""
    return render_mrkdwn(str(obj.get("text", "")), names)


def render_blocks(blocks: list[Any], fallback: str, names: Mapping[str, str]) -> list[str]:
    """The lines a Slack client would show for these blocks."""
    if not blocks:
        return render_mrkdwn(fallback, names).splitlines()
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            lines.append(_text(block.get("text"), names).upper())
        elif kind == "section":
            if block.get("text"):
                lines.extend(_text(block["text"], names).splitlines())
            fields = [_text(f, names).replace("\n", ": ", 1) for f in block.get("fields", [])]
            for left, right in zip(fields[::2], [*fields[1::2], ""], strict=False):
                lines.append(f"{left:<44} {right}".rstrip())
        elif kind == "actions":
            buttons = [f"[ {_text(e.get('text'), names)} ]" for e in block.get("elements", [])]
            lines.append("  ".join(buttons))
        elif kind == "context":
            lines.append(" · ".join(_text(e, names) for e in block.get("elements", [])))
    return lines


def indent(lines: list[str], first: str, rest: str | None = None, width: int = 100) -> list[str]:
    """Prefix the first line with `first` and every other (and wrapped) line with `rest`."""
    rest = " " * len(first) if rest is None else rest
    out: list[str] = []
    for line in lines:
        prefix = first if not out else rest
        wrapped = textwrap.wrap(line, width=width - len(prefix)) or [""]
        out.append(prefix + wrapped[0])
        out.extend(rest + w for w in wrapped[1:])
    return out


__all__ += ["indent"]
