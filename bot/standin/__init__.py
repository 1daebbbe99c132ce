"""Local stand-ins for Slack, for tests and the offline demo: a fake Web API (with views, scopes
and Socket Mode) and the signed requests Slack sends to an app.

The bot never imports this package; it imports nothing from the rest of the bot (`stack`, which
runs the bot against it, is imported on its own).
"""

from __future__ import annotations

from bot.standin.event_requests import (
    app_home_opened_event,
    dm_channel,
    event_callback_body,
    event_callback_payload,
    url_verification_body,
)
from bot.standin.records import (
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    OTHER_APP_ID,
    OTHER_BOT_ID,
    OTHER_USER_ID,
    TEAM_ID,
    Call,
    Edit,
    Ephemeral,
    Event,
    Message,
    ViewRecord,
    WaitTimeout,
)
from bot.standin.slack_api import FakeSlack
from bot.standin.slack_requests import (
    block_actions_body,
    block_actions_payload,
    interactive_body,
    post_signed,
    sign,
    slash_command_body,
    slash_command_payload,
)
from bot.standin.view_requests import (
    block_suggestion_body,
    block_suggestion_payload,
    option,
    view_block_actions_body,
    view_block_actions_payload,
    view_submission_body,
    view_submission_payload,
)
from bot.standin.views import TRIGGER_LIFETIME
from bot.standin.workspace import SCOPES

__all__ = [
    "APP_ID",
    "BOT_ID",
    "BOT_USER_ID",
    "OTHER_APP_ID",
    "OTHER_BOT_ID",
    "OTHER_USER_ID",
    "SCOPES",
    "TEAM_ID",
    "TRIGGER_LIFETIME",
    "Call",
    "Edit",
    "Ephemeral",
    "Event",
    "FakeSlack",
    "Message",
    "ViewRecord",
    "WaitTimeout",
    "app_home_opened_event",
    "block_actions_body",
    "block_actions_payload",
    "block_suggestion_body",
    "block_suggestion_payload",
    "dm_channel",
    "event_callback_body",
    "event_callback_payload",
    "interactive_body",
    "option",
    "post_signed",
    "sign",
    "slash_command_body",
    "slash_command_payload",
    "url_verification_body",
    "view_block_actions_body",
    "view_block_actions_payload",
    "view_submission_body",
    "view_submission_payload",
]
