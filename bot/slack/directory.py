"""Who may approve: configured users plus members of configured Slack user groups.

Group membership comes from `usergroups.users.list` (Tier 2 rate limit), cached for `ttl`.
If Slack cannot be asked, the last known membership is used while it is at most `max_stale` old
(15 min); older or never known, nobody is decided about: `ApproversUnavailable`, nothing is
approved and the clicker is asked to try again. A failure is remembered for 30 s before Slack is
asked again. A group Slack says does not exist has no members. Users listed in the config
never need Slack. Imports no store, flow or watcher.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.approvals import ApproversUnavailable

__all__ = ["ApproverDirectory"]

logger = logging.getLogger(__name__)

NO_SUCH_GROUP = "no_such_subteam"  # Slack's answer for a group that does not exist (any more)


@dataclass(frozen=True)
class _Membership:
    members: frozenset[str]
    fetched_at: datetime | None  # when Slack last answered; None: never
    ask_after: datetime  # until then, this is the answer (fresh, or a failure's back-off)


class ApproverDirectory:
    def __init__(
        self,
        client: AsyncWebClient,
        *,
        users: Iterable[str],
        usergroups: Iterable[str],
        clock: Callable[[], datetime],
        ttl: timedelta = timedelta(minutes=2),
        retry_after_failure: timedelta = timedelta(seconds=30),
        max_stale: timedelta = timedelta(minutes=15),
    ) -> None:
        self._client = client
        self._users = frozenset(users)
        self._groups = tuple(usergroups)
        self._clock = clock
        self._ttl = ttl
        self._retry_after_failure = retry_after_failure
        self._max_stale = max_stale
        self._cache: dict[str, _Membership] = {}

    async def is_approver(self, user_id: str) -> bool:
        """Whether `user_id` may approve; raises `ApproversUnavailable` when it cannot be told."""
        if user_id in self._users:
            return True
        unknown = False
        for group in self._groups:
            membership = await self._membership(group)
            if not self._trusted(membership):
                unknown = True  # a group that may hold them could not be read: look on
            elif user_id in membership.members:
                return True
        if unknown:
            raise ApproversUnavailable()
        return False

    def _trusted(self, membership: _Membership) -> bool:
        fetched_at = membership.fetched_at
        return fetched_at is not None and self._clock() - fetched_at <= self._max_stale

    async def _membership(self, group: str) -> _Membership:
        now = self._clock()
        cached = self._cache.get(group)
        if cached is not None and now < cached.ask_after:
            return cached
        try:
            response = await self._client.usergroups_users_list(usergroup=group)
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            error = exc.response.get("error") if isinstance(exc, SlackApiError) else None
            if error == NO_SUCH_GROUP:  # an answer, not a failure: nobody is in it
                logger.warning("approvers.usergroup.unknown", extra={"usergroup": group})
                gone = _Membership(frozenset(), now, now + self._ttl)
                self._cache[group] = gone
                return gone
            logger.warning(
                "approvers.usergroup.failed",
                extra={"usergroup": group, "status": error or type(exc).__name__},
            )
            # Remember the failure briefly too: usergroups.users.list is rate-limited (Tier 2),
            # and a burst of clicks must not turn one failure into a burst of calls.
            failed = _Membership(
                cached.members if cached else frozenset(),
                cached.fetched_at if cached else None,
                now + self._retry_after_failure,
            )
            self._cache[group] = failed
            return failed
        fresh = _Membership(
            frozenset(str(u) for u in response.get("users") or []), now, now + self._ttl
        )
        self._cache[group] = fresh
        return fresh
