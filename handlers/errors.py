"""What the user sees when something unexpected breaks: a short note with a reference, never
a traceback. The traceback goes to the log under the same reference.

Listeners catch unexpected errors that happen *after* `ack()` themselves and report them here,
instead of letting them reach Bolt: Bolt's runner resets an acked response when the listener
raises within its 10 ms polling window, and Slack then gets a late 404 instead of the ack.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

__all__ = ["report_unexpected"]

logger = logging.getLogger(__name__)


async def report_unexpected(error: BaseException, respond: Any = None) -> str:
    """Log it with a new reference (returned), and tell the user through `respond` if given."""
    ref = secrets.token_hex(4)
    logger.error("bot.unhandled_error", extra={"error_ref": ref}, exc_info=error)
    if respond is None:
        return ref
    try:
        await respond(
            text=f":warning: Something went wrong inside the bot (reference `{ref}`). "
            "Nothing more was done; an operator can find the details in the logs.",
            response_type="ephemeral",
            replace_original=False,
        )
    except Exception:  # no response_url (e.g. a modal), or Slack unreachable: the log has it
        logger.warning("bot.error_reply_failed", extra={"error_ref": ref})
    return ref
