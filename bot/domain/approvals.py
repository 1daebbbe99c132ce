"""The approval domain: states, who may decide, quorum. Pure: knows nothing of Slack or HTTP.

A request is `pending` until enough distinct approvers approve (→ `approved`, then `cancelled`
or `failed` once the API has answered), one of them rejects (→ `rejected`) or it runs out of
time (→ `expired`). The store applies each transition as one conditional update.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

__all__ = [
    "AlreadyApproved",
    "AlreadyDecided",
    "ApprovalError",
    "ApprovalPolicy",
    "ApprovalState",
    "ApproversUnavailable",
    "ChannelNotAllowed",
    "NotAnApprover",
    "RequestExpired",
    "SelfApproval",
    "UnknownApproval",
    "channel_allowed",
    "check_decider",
]


class ApprovalState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"  # quorum reached; the cancel is about to be sent
    CANCEL_REQUESTED = "cancel_requested"  # claimed by the one sender; the call is under way
    CANCELLED = "cancelled"  # the API accepted the cancel
    REJECTED = "rejected"
    EXPIRED = "expired"
    FAILED = "failed"  # no longer cancellable, or the API refused / could not confirm


class ApprovalError(Exception):
    """An expected refusal, shown to the clicker as an ephemeral message."""


class NotAnApprover(ApprovalError):
    def __init__(self) -> None:
        super().__init__(
            "You are not an approver for CCE upgrade cancellations, so this changes nothing. "
            "Approvers are the users and user groups listed in the bot's config."
        )


class ApproversUnavailable(ApprovalError):
    """Who is in the approver groups is not known well enough to decide (Slack is not answering)."""

    def __init__(self) -> None:
        super().__init__(
            "The bot could not check the approver groups with Slack just now; nothing was "
            "approved. Try again in a minute."
        )


class SelfApproval(ApprovalError):
    def __init__(self) -> None:
        super().__init__(
            "You opened this request, so you cannot approve it yourself; another approver must."
        )


class AlreadyApproved(ApprovalError):
    def __init__(self, have: int, required: int) -> None:
        super().__init__(
            f"You have already approved this request ({have} of {required} approvals so far); "
            "a different approver is needed."
        )


class AlreadyDecided(ApprovalError):
    def __init__(self, state: str, by: str | None) -> None:
        who = f" by <@{by}>" if by else ""
        super().__init__(f"This request was already {state}{who}; nothing changed.")
        self.state = state
        self.by = by


class ChannelNotAllowed(ApprovalError):
    def __init__(self) -> None:
        super().__init__(
            "`/cce-upgrade` is not enabled in this channel, so this click changes nothing. Use "
            "one of the incident channels listed in the bot's config (`channels:`)."
        )


def channel_allowed(allowed: Collection[str] | None, channel_id: str) -> bool:
    """The channel allow-list (SPEC §3): None allows every channel the bot is in."""
    return allowed is None or channel_id in allowed


class RequestExpired(ApprovalError):
    def __init__(self) -> None:
        super().__init__("This request has expired; run the command again to open a new one.")


class UnknownApproval(ApprovalError):
    def __init__(self) -> None:
        super().__init__("This approval request is not known to the bot; nothing changed.")


@dataclass(frozen=True)
class ApprovalPolicy:
    """Who may approve, how many distinct approvals are needed, and for how long."""

    approver_users: frozenset[str]
    required: int = 1
    allow_self_approval: bool = False
    expires_after: timedelta = timedelta(minutes=30)


def check_decider(
    *,
    policy: ApprovalPolicy,
    user_id: str,
    requester_id: str,
    is_approver: bool,
    approving: bool,
    state: str,
    decided_by: str | None,
    expires_at: datetime,
    now: datetime,
    approved_by: Collection[str] = (),
) -> None:
    """Raise the `ApprovalError` that applies to this click, or return when it may proceed."""
    if state != ApprovalState.PENDING:
        raise AlreadyDecided(state, decided_by)
    if now >= expires_at:
        raise RequestExpired()
    if not is_approver:
        raise NotAnApprover()
    if approving and user_id == requester_id and not policy.allow_self_approval:
        raise SelfApproval()
    if approving and user_id in approved_by:
        raise AlreadyApproved(len(approved_by), policy.required)
