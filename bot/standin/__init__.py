"""Local stand-ins for Slack, for tests and the offline demo: a fake Web API and signed requests.

The bot never imports this package; it imports nothing from the rest of the bot.
"""

from __future__ import annotations

from bot.standin.slack_api import (
    BOT_ID,
    BOT_USER_ID,
    TEAM_ID,
    Call,
    Edit,
    Ephemeral,
    Event,
    FakeSlack,
    Message,
    WaitTimeout,
)
from bot.standin.slack_requests import block_actions_body, post_signed, sign, slash_command_body

__all__ = [
    "BOT_ID",
    "BOT_USER_ID",
    "TEAM_ID",
    "Call",
    "Edit",
    "Ephemeral",
    "Event",
    "FakeSlack",
    "Message",
    "WaitTimeout",
    "block_actions_body",
    "post_signed",
    "sign",
    "slash_command_body",
]
