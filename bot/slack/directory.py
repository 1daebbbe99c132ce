"""Who may approve: configured users plus members of configured Slack user groups.

Group membership comes from `usergroups.users.list` (Tier 2 rate limit), cached for `ttl`.
If Slack cannot be asked, the last known membership is used; with none, nobody from that group
is an approver (fail closed). A failure is remembered for 30 s before Slack is asked again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

__all__ = ["ApproverDirectory"]

logger = logging.getLogger(__name__)


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
    ) -> None:
        self._client = client
        self._users = frozenset(users)
        self._groups = tuple(usergroups)
        self._clock = clock
        self._ttl = ttl
        self._retry_after_failure = retry_after_failure
        self._cache: dict[str, tuple[datetime, frozenset[str]]] = {}

    async def is_approver(self, user_id: str) -> bool:
        if user_id in self._users:
            return True
        for group in self._groups:
            if user_id in await self._members(group):
                return True
        return False

    async def _members(self, group: str) -> frozenset[str]:
        now = self._clock()
        cached = self._cache.get(group)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        try:
            response = await self._client.usergroups_users_list(usergroup=group)
        except SlackApiError as exc:
            logger.warning(
                "approvers.usergroup.failed",
                extra={"usergroup": group, "status": exc.response.get("error")},
            )
            # Remember the failure briefly too: usergroups.users.list is rate-limited (Tier 2),
            # and a burst of clicks must not turn one failure into a burst of calls.
            members = cached[1] if cached is not None else frozenset()
            self._cache[group] = (now - self._ttl + self._retry_after_failure, members)
            return members
        members = frozenset(str(u) for u in response.get("users") or [])
        self._cache[group] = (now, members)
        return members
