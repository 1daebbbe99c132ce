"""Thin Slack listeners. `register(app)` wires every one of them to the Bolt app."""

from __future__ import annotations

from typing import Any

from handlers import actions, alerts, commands, events, views

__all__ = ["register"]


def register(app: Any) -> None:
    commands.register(app)
    actions.register(app)
    views.register(app)
    events.register(app)
    alerts.register(app)
