"""Build the Events API requests Slack sends to an app: `event_callback` envelopes (such as
`app_home_opened`) and the `url_verification` challenge.

Bodies are JSON bytes (sign them with `slack_requests.sign`, which marks them JSON); each
`*_payload` is what a Socket Mode `events_api` envelope carries. Imports nothing from the rest of
the bot.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

from bot.standin.records import APP_ID, BOT_USER_ID, TEAM_ID

__all__ = [
    "app_home_opened_event",
    "dm_channel",
    "event_callback_body",
    "event_callback_payload",
    "url_verification_body",
]

_event_ids = itertools.count(1)


def dm_channel(user_id: str) -> str:
    """The id of the bot's direct-message channel with `user_id` (stable, `D…`)."""
    return "D" + user_id.removeprefix("U").removeprefix("W")


def app_home_opened_event(
    user_id: str,
    *,
    channel: str | None = None,
    tab: str = "home",
    view: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The `app_home_opened` event: `user_id` opened the app's Home (or Messages) tab.

    `view` is the Home view the bot last published for them; Slack leaves it out when there is
    none.
    """
    event: dict[str, Any] = {
        "type": "app_home_opened",
        "user": user_id,
        "channel": channel or dm_channel(user_id),
        "tab": tab,
        "event_ts": f"{time.time():.6f}",
    }
    if view is not None:
        event["view"] = view
    return event


def event_callback_payload(
    event: dict[str, Any],
    *,
    team_id: str = TEAM_ID,
    event_id: str | None = None,
    event_time: int | None = None,
) -> dict[str, Any]:
    """The `event_callback` envelope around one event, addressed to the bot's installation."""
    return {
        "token": "legacy-verification-token",
        "team_id": team_id,
        "context_team_id": team_id,
        "context_enterprise_id": None,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{next(_event_ids):010d}",
        "event_time": int(time.time()) if event_time is None else event_time,
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": BOT_USER_ID,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
    }


def event_callback_body(
    event: dict[str, Any],
    *,
    team_id: str = TEAM_ID,
    event_id: str | None = None,
    event_time: int | None = None,
) -> bytes:
    """`event_callback_payload(...)` as Slack POSTs it: JSON."""
    payload = event_callback_payload(
        event, team_id=team_id, event_id=event_id, event_time=event_time
    )
    return json.dumps(payload).encode()


def url_verification_body(challenge: str) -> bytes:
    """The check Slack sends when the Events request URL is set; the app echoes `challenge`."""
    payload = {"token": "legacy-verification-token", "challenge": challenge}
    return json.dumps({**payload, "type": "url_verification"}).encode()
