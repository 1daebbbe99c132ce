"""The cancel modal (SPEC §10.1): opened from `/cce-upgrade` (or, pre-filled, by another part
such as an alert's "Request cancel…"), its cluster options, its workflow select, its submission.

`open` calls `views.open` first, with nothing before it, so the trigger id is used well within
Slack's 3 s; a pre-filled form's workflows are filled in after (`views.update`). A submission runs
the command's own pre-check (`Opening.check`): a refusal goes back on the form's fields and
nothing is posted; otherwise the request is posted in the channel the form was opened from
(carried in `private_metadata`, checked against the allow-list like a command). Slack waits 3 s
for the answer to a submission: when the check takes longer than `answer_within`, the form turns
into a "checking…" view, and then into what came of it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, replace
from typing import Any

from bot.approval.errors import FlowError
from bot.approval.opening import Opening
from bot.approval.targets import Targets
from bot.domain.approvals import channel_allowed
from bot.domain.commands import MAX_REASON
from bot.domain.ids import InvalidID, validate_workflow_id
from bot.slack.choices import workflow_label
from bot.slack.modal import (
    CLUSTER_BLOCK_ID,
    MAX_OPTIONS,
    REASON_BLOCK_ID,
    WORKFLOW_BLOCK_ID,
    ModalForm,
    ModalInput,
    cancel_modal,
    cluster_option,
    message_modal,
    plain,
    read_channel,
    read_modal,
)
from bot.slack.poster import SlackPostError
from bot.slack.views import Views

__all__ = ["CancelModal", "Submitted"]

logger = logging.getLogger(__name__)

ANSWER_WITHIN = 2.0  # seconds a submission's check may take before the form says "checking…"
SUGGEST_WITHIN = 2.0  # seconds the cluster options may take (a cluster list call) before none
_RECENT_PICKS = 256  # views whose latest cluster choice is remembered
_ERROR_MAX = 500

Errors = dict[str, str]


@dataclass(frozen=True)
class Submitted:
    """How to answer a submission: `errors` on the fields (the form stays, nothing posted),
    or `view` to show now and `later` to await after the answer; neither: close the form."""

    errors: Errors | None = None
    view: dict[str, Any] | None = None
    later: Callable[[], Awaitable[None]] | None = None


@dataclass(frozen=True)
class _Asked:
    """A form that passed the checks needing no I/O."""

    channel_id: str
    cluster: str
    workflow_id: str
    workflow_block: str
    reason: str


def _error(text: str) -> str:
    text = plain(text)
    return text if len(text) <= _ERROR_MAX else text[: _ERROR_MAX - 1] + "…"


class CancelModal:
    def __init__(
        self,
        *,
        views: Views,
        targets: Targets,
        opening: Opening,
        channels: Collection[str] | None,
        answer_within: float = ANSWER_WITHIN,
        suggest_within: float = SUGGEST_WITHIN,
    ) -> None:
        self._views = views
        self._targets = targets
        self._opening = opening
        self._channels = channels
        self._answer_within = answer_within
        self._suggest_within = suggest_within
        self._picks: OrderedDict[str, str] = OrderedDict()  # view id → latest cluster chosen

    async def open(
        self,
        trigger_id: str,
        channel_id: str,
        *,
        cluster: str | None = None,
        workflow_id: str | None = None,
    ) -> None:
        """Open the form for the person whose action gave `trigger_id` (call it first: the
        trigger lasts 3 s), posting to `channel_id`; pre-filled with `cluster` (an alias, name
        or id) and `workflow_id` when given. Raises `SlackPostError` when Slack refuses it."""
        try:
            chosen = validate_workflow_id(workflow_id) if workflow_id else None
        except InvalidID:
            chosen = None
        form = ModalForm(channel_id, (cluster, cluster) if cluster else None, workflow_id=chosen)
        shown = await self._views.open(trigger_id, cancel_modal(form))
        if cluster:
            await self._fill(shown.view_id, form, cluster)

    async def options(self, typed: str) -> list[dict[str, Any]]:
        """The cluster options for what was typed (aliases, names, ids containing it). Slack
        waits 3 s: past `suggest_within` none are given now (the list call goes on, so the next
        keystroke finds them)."""
        try:
            async with asyncio.timeout(self._suggest_within):
                found = await self._targets.suggest(typed.strip()[:128], MAX_OPTIONS)
        except TimeoutError:
            logger.warning("modal.options.slow")
            return []
        return [cluster_option(f) for f in found]

    async def chosen(self, view_id: str, private_metadata: str, cluster: str | None) -> None:
        """A cluster was chosen in the form: show its open workflows."""
        channel_id = read_channel(private_metadata)
        if channel_id is None or cluster is None or not view_id:
            logger.warning("modal.choice.ignored", extra={"status": "malformed"})
            return
        self._picks[view_id] = cluster
        self._picks.move_to_end(view_id)
        while len(self._picks) > _RECENT_PICKS:
            self._picks.popitem(last=False)
        await self._fill(view_id, ModalForm(channel_id, (cluster, cluster)), cluster)

    async def _fill(self, view_id: str, form: ModalForm, value: str) -> None:
        try:
            found = await self._targets.cluster(value)
            open_ = await self._targets.open_workflows(found)
        except FlowError as exc:
            form = replace(form, workflows=(), note=str(exc))
        else:
            workflows = tuple((w.workflow_id, workflow_label(w)) for w in open_)
            shown = cluster_option(found)["text"]["text"]
            form = replace(form, cluster=(value, shown), workflows=workflows)
        if self._picks.get(view_id, value) != value:
            return  # another cluster was chosen meanwhile: its own fill shows it
        try:
            await self._views.update(view_id, cancel_modal(form))
        except SlackPostError as exc:  # the form was closed, or Slack is not answering
            logger.warning("modal.update.failed", extra={"status": exc.error})

    async def submit(self, user_id: str, view: dict[str, Any]) -> Submitted:
        """Check a submitted form and, when it passes, post the request (see the module)."""
        asked = self._checked(read_modal(view))
        if not isinstance(asked, _Asked):
            return Submitted(errors=asked)
        attempt = asyncio.ensure_future(self._attempt(user_id, asked))
        done, _ = await asyncio.wait({attempt}, timeout=self._answer_within)
        if attempt in done:
            errors = attempt.result()
            return Submitted(errors=errors or None)
        view_id = str(view.get("id", ""))

        async def later() -> None:
            errors = await attempt
            if errors:
                text = ":no_entry: Nothing was posted.\n" + "\n".join(errors.values())
            else:
                text = (
                    f":white_check_mark: The approval request is posted in <#{asked.channel_id}>."
                )
            try:
                await self._views.update(view_id, message_modal("Cancel an upgrade", text))
            except SlackPostError as exc:
                logger.warning("modal.update.failed", extra={"status": exc.error})

        checking = message_modal(
            "Cancel an upgrade", ":hourglass_flowing_sand: Checking the workflow with CCE…"
        )
        return Submitted(view=checking, later=later)

    def _checked(self, entered: ModalInput) -> _Asked | Errors:
        """The form, or what is wrong with it, before asking anyone (no I/O)."""
        if entered.channel_id is None:
            return {
                CLUSTER_BLOCK_ID: "This form does not say which channel it came from. Close "
                "it and run /cce-upgrade again in the incident channel."
            }
        if not channel_allowed(self._channels, entered.channel_id):
            return {
                CLUSTER_BLOCK_ID: "/cce-upgrade is not enabled in the channel this form was "
                "opened from. Use one of the incident channels in the bot's config (channels:)."
            }
        if entered.cluster is None:
            return {CLUSTER_BLOCK_ID: "Choose a cluster."}
        errors: Errors = {}
        block = entered.workflow_block
        if block is None:
            errors[CLUSTER_BLOCK_ID] = (
                "This cluster shows no upgrade workflow to cancel. Choose another cluster, or "
                "wait for its workflows to show."
            )
        elif block != f"{WORKFLOW_BLOCK_ID}:{entered.cluster}"[:255]:
            errors[block] = "These are another cluster's workflows: choose the cluster again."
        else:
            try:
                workflow_id = validate_workflow_id(entered.workflow_id)
            except InvalidID:
                errors[block] = "Choose a workflow."
        if not entered.reason:
            errors[REASON_BLOCK_ID] = "Say why the upgrade should be cancelled."
        elif len(entered.reason) > MAX_REASON:
            errors[REASON_BLOCK_ID] = f"At most {MAX_REASON} characters, please."
        if errors or block is None:
            return errors
        return _Asked(entered.channel_id, entered.cluster, workflow_id, block, entered.reason)

    async def _attempt(self, user_id: str, asked: _Asked) -> Errors:
        """The pre-check and, when it passes, the post; the errors to show, or {} when posted."""
        try:
            found = await self._targets.cluster(asked.cluster)
        except FlowError as exc:
            return {CLUSTER_BLOCK_ID: _error(str(exc))}
        try:
            checked = await self._opening.check(user_id, found, asked.workflow_id)
        except FlowError as exc:
            return {asked.workflow_block: _error(str(exc))}
        try:
            await self._opening.post(user_id, asked.channel_id, checked, asked.reason)
        except FlowError as exc:  # Slack refused the post there (the bot is not in it, ...)
            return {CLUSTER_BLOCK_ID: _error(str(exc))}
        return {}
