"""Running a command after Slack's ack: find the cluster and, when the workflow was left out,
the cluster's one open workflow (SPEC §2), then hand it to opening, the queries or watching.

With no open workflow the requester is told so; with several, they get one button per workflow
(`bot.slack.choices`), each carrying the same command with that workflow, so a click continues
it through here again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from bot.approval.errors import FlowError
from bot.approval.opening import Opening
from bot.approval.queries import Queries
from bot.approval.targets import Targets
from bot.cce.found import FoundCluster
from bot.domain.commands import Cancel, Clusters, ListWorkflows, Status, Watch, command_text
from bot.slack.blocks import escape
from bot.slack.choices import workflow_choice
from bot.watch.starting import Watching

__all__ = ["CommandRunner", "Reply", "RunnableCommand"]

RunnableCommand = Cancel | Status | Watch | ListWorkflows | Clusters

_VERBS = {Cancel: "cancel", Status: "check", Watch: "watch"}


@dataclass(frozen=True)
class Reply:
    """What to answer the requester (only they see it)."""

    text: str
    blocks: list[dict[str, Any]] | None = None


class CommandRunner:
    def __init__(
        self, *, targets: Targets, opening: Opening, queries: Queries, watching: Watching
    ) -> None:
        self._targets = targets
        self._opening = opening
        self._queries = queries
        self._watching = watching

    async def run(self, user_id: str, channel_id: str, command: RunnableCommand) -> Reply:
        """Do the command; raises `FlowError` with a sentence for the requester."""
        if isinstance(command, Clusters):
            return Reply(*await self._queries.clusters())
        found = await self._targets.cluster(command.cluster)
        if isinstance(command, ListWorkflows):
            return Reply(*await self._queries.list(found))
        workflow_id = command.workflow_id
        if workflow_id is None:
            open_ = await self._targets.open_workflows(found)
            if len(open_) > 1:
                choices = [
                    (w, command_text(replace(command, workflow_id=w.workflow_id))) for w in open_
                ]
                return Reply(*workflow_choice(_VERBS[type(command)], found.label, choices))
            if not open_:
                raise FlowError(_none_open(command, found))
            workflow_id = open_[0].workflow_id
        if isinstance(command, Cancel):
            return Reply(
                await self._opening.open(user_id, channel_id, found, workflow_id, command.reason)
            )
        if isinstance(command, Status):
            return Reply(*await self._queries.status(found, workflow_id))
        return Reply(await self._watching.start(user_id, channel_id, found, workflow_id))


def _none_open(command: Cancel | Status | Watch, found: FoundCluster) -> str:
    what = {
        Cancel: "there is nothing to cancel",
        Status: "there is no current one to show: give the workflow id",
        Watch: "there is nothing to watch",
    }
    return (
        f"No upgrade workflow on *{escape(found.label)}* is in progress (every one has "
        f"settled), so {what[type(command)]}. `/cce-upgrade list {escape(command.cluster)}` "
        "shows them all."
    )
