"""The App Home tab (SPEC §10.2), published for one person when they open it (and again after
they decide from it): the requests waiting for approval, with Approve / Reject where they may
decide by the channel's own rules (`check_decider`), the watches running with a link to each
thread, and the last ten outcomes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from bot.approval.message import view_of
from bot.domain.approvals import (
    ApprovalError,
    ApprovalPolicy,
    ApprovalState,
    ApproversUnavailable,
    check_decider,
)
from bot.slack.directory import ApproverDirectory
from bot.slack.home import HomeOutcome, HomeRequest, HomeWatch, home_view
from bot.slack.links import WorkspaceLinks
from bot.slack.poster import SlackPostError
from bot.slack.views import Views
from bot.store.records import ApprovalRecord
from bot.store.requests import RequestStore
from bot.store.watches import WatchStore

__all__ = ["HomeTab"]

logger = logging.getLogger(__name__)

ENDED = (
    ApprovalState.CANCELLED,
    ApprovalState.REJECTED,
    ApprovalState.EXPIRED,
    ApprovalState.FAILED,
)
WAITING_SHOWN = 20
WATCHES_SHOWN = 15
OUTCOMES_SHOWN = 10


class HomeTab:
    def __init__(
        self,
        *,
        requests: RequestStore,
        watches: WatchStore,
        views: Views,
        directory: ApproverDirectory,
        policy: ApprovalPolicy,
        links: WorkspaceLinks,
        clock: Callable[[], datetime],
    ) -> None:
        self._requests = requests
        self._watches = watches
        self._views = views
        self._directory = directory
        self._policy = policy
        self._links = links
        self._clock = clock

    async def publish(self, user_id: str, note: str | None = None) -> None:
        """Publish `user_id`'s Home tab; `note` (our own mrkdwn) goes on top. Never raises for
        Slack refusing it (logged): the Home tab is a view, not a record."""
        now = self._clock()
        try:
            approver: bool | None = await self._directory.is_approver(user_id)
        except ApproversUnavailable:
            approver = None
        pending = await self._requests.in_state(ApprovalState.PENDING, limit=WAITING_SHOWN)
        waiting = [
            HomeRequest(
                view_of(r),
                approve=self._may(r, user_id, approver, approving=True, now=now),
                reject=self._may(r, user_id, approver, approving=False, now=now),
            )
            for r in pending
            if r.expires_at > now
        ]
        watches = [
            HomeWatch(
                label=w.cluster_alias,
                cluster_id=w.cluster_id,
                workflow_id=w.workflow_id,
                channel_id=w.channel_id,
                started_at=w.started_at,
                link=await self._links.message(w.channel_id, w.thread_ts),
            )
            for w in await self._watches.open_watches(limit=WATCHES_SHOWN)
        ]
        outcomes = [
            HomeOutcome(view_of(r), r.decided_by, r.decided_at)
            for r in await self._requests.ended(ENDED, limit=OUTCOMES_SHOWN)
        ]
        view = home_view(
            waiting=waiting,
            watches=watches,
            outcomes=outcomes,
            approver=approver,
            note=note,
            now=now,
        )
        try:
            await self._views.publish(user_id, view)
        except SlackPostError as exc:
            logger.warning(
                "home.publish.failed", extra={"slack_user": user_id, "status": exc.error}
            )

    def _may(
        self,
        rec: ApprovalRecord,
        user_id: str,
        approver: bool | None,
        *,
        approving: bool,
        now: datetime,
    ) -> bool:
        """Whether this click would be taken, by the same rules as a click in the channel."""
        if not approver:
            return False
        try:
            check_decider(
                policy=self._policy,
                user_id=user_id,
                requester_id=rec.requester_id,
                is_approver=True,
                approving=approving,
                state=rec.state,
                decided_by=rec.decided_by,
                expires_at=rec.expires_at,
                now=now,
                approved_by=rec.approved_by,
            )
        except ApprovalError:
            return False
        return True
