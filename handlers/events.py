"""Events API listeners: `app_home_opened` publishes that person's Home tab (Bolt acks events
itself)."""

from __future__ import annotations

from typing import Any

from bot.approval.home import HomeTab
from bot.slack.door import PostAckGate
from handlers.errors import report_unexpected

__all__ = ["handle_home_opened", "register"]


async def handle_home_opened(event: dict[str, Any], home: HomeTab, work_slots: PostAckGate) -> None:
    if event.get("tab") != "home":  # the Messages tab opens this event too
        return
    user_id = event.get("user")
    if not isinstance(user_id, str) or not user_id:
        return
    async with work_slots:
        try:
            await home.publish(user_id)
        except Exception as exc:  # reported here, see handlers.errors
            await report_unexpected(exc)


def register(app: Any) -> None:
    app.event("app_home_opened")(handle_home_opened)
