"""Block Kit for the cancel modal (SPEC §10.1), and reading back what Slack sends about it.

Pure. The form: a cluster (an external select, its options asked for on `block_suggestion`),
then the cluster's open workflows (a static select, filled once a cluster is chosen), then a
required reason. `private_metadata` carries the channel the form was opened from. Everything
read back from Slack (state, metadata) is untrusted: it is returned as plain text for the
caller to validate.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.cce.found import FoundCluster
from bot.domain.commands import MAX_REASON

__all__ = [
    "CANCEL_MODAL_CALLBACK_ID",
    "CLUSTER_ACTION_ID",
    "CLUSTER_BLOCK_ID",
    "REASON_ACTION_ID",
    "REASON_BLOCK_ID",
    "WORKFLOW_ACTION_ID",
    "WORKFLOW_BLOCK_ID",
    "ModalForm",
    "ModalInput",
    "cancel_modal",
    "cluster_option",
    "message_modal",
    "option",
    "plain",
    "read_channel",
    "read_modal",
]

CANCEL_MODAL_CALLBACK_ID = "cce_cancel_modal"
CLUSTER_BLOCK_ID = "cce_modal_cluster"
CLUSTER_ACTION_ID = "cce_modal_cluster"
# The workflow block's id ends with the cluster it lists (`cce_modal_workflow:<cluster>`), so a
# choice made for one cluster is not carried over when another is chosen.
WORKFLOW_BLOCK_ID = "cce_modal_workflow"
WORKFLOW_ACTION_ID = "cce_modal_workflow"
REASON_BLOCK_ID = "cce_modal_reason"
REASON_ACTION_ID = "cce_modal_reason"
MAX_OPTIONS = 100  # Slack's limit for options in a select or a block_suggestion answer

_CHANNEL = re.compile(r"[CGD][A-Z0-9]{2,30}")

View = dict[str, Any]


def _text(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plain(text: str) -> str:
    """A message written for mrkdwn as plain text (modal errors and options are plain)."""
    text = text.replace("`", "").replace("*", "")
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def option(value: str, label: str) -> dict[str, Any]:
    """An option object within Slack's limits (text 75, value 150 characters)."""
    return {"text": {"type": "plain_text", "text": _text(label, 75)}, "value": value[:150]}


@dataclass(frozen=True)
class ModalForm:
    """What the form shows.

    `cluster` is the chosen cluster (option value, label) or None; `workflows` its open
    workflows (id, label), None while not known yet, () when it has none; `workflow_id` the one
    to show selected; `note` a sentence under the cluster (why there is nothing to choose).
    """

    channel_id: str
    cluster: tuple[str, str] | None = None
    workflows: tuple[tuple[str, str], ...] | None = None
    workflow_id: str | None = None
    note: str | None = None


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _text(text, 3000)}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _text(text, 3000)}]}


def _workflow_blocks(form: ModalForm) -> list[dict[str, Any]]:
    if form.cluster is None:
        return [_context("Choose a cluster: its workflows that have not settled show here.")]
    value, label = form.cluster
    if form.workflows is not None and not form.workflows:
        none = f"No upgrade workflow on {label} is in progress: nothing to cancel."
        return [_section(f":information_source: {form.note or none}")]
    known = form.workflows or (((form.workflow_id, form.workflow_id),) if form.workflow_id else ())
    if not known:
        return [_context(f"Looking up the upgrade workflows of {label}…")]
    element: dict[str, Any] = {
        "type": "static_select",
        "action_id": WORKFLOW_ACTION_ID,
        "placeholder": {"type": "plain_text", "text": "Choose a workflow"},
        "options": [option(w, text) for w, text in known[:MAX_OPTIONS]],
    }
    chosen = form.workflow_id if form.workflow_id in {w for w, _ in known} else None
    if chosen is None and len(known) == 1:
        chosen = known[0][0]
    if chosen is not None:
        element["initial_option"] = next(
            option(w, text) for w, text in known[:MAX_OPTIONS] if w == chosen
        )
    blocks: list[dict[str, Any]] = [
        {
            "type": "input",
            "block_id": f"{WORKFLOW_BLOCK_ID}:{value}"[:255],
            "label": {"type": "plain_text", "text": "Upgrade workflow (not settled, newest first)"},
            "element": element,
        }
    ]
    if form.note:
        blocks.append(_context(form.note))
    return blocks


def cancel_modal(form: ModalForm) -> View:
    """The cancel modal, as `views.open`/`views.update` take it."""
    cluster: dict[str, Any] = {
        "type": "external_select",
        "action_id": CLUSTER_ACTION_ID,
        "placeholder": {"type": "plain_text", "text": "Type a cluster's name"},
        "min_query_length": 0,
    }
    if form.cluster is not None:
        cluster["initial_option"] = option(*form.cluster)
    blocks: list[dict[str, Any]] = [
        _section(
            f"Ask to cancel a CCE Autopilot upgrade. The approval request is posted in "
            f"<#{form.channel_id}>, where an approver decides."
        ),
        {
            "type": "input",
            "block_id": CLUSTER_BLOCK_ID,
            "dispatch_action": True,  # choosing one tells the bot, which lists its workflows
            "label": {"type": "plain_text", "text": "Cluster"},
            "element": cluster,
        },
        *_workflow_blocks(form),
        {
            "type": "input",
            "block_id": REASON_BLOCK_ID,
            "label": {"type": "plain_text", "text": "Reason"},
            "element": {
                "type": "plain_text_input",
                "action_id": REASON_ACTION_ID,
                "multiline": True,
                "max_length": MAX_REASON,
                "placeholder": {
                    "type": "plain_text",
                    "text": "e.g. node pool stuck after the upgrade",
                },
            },
        },
    ]
    return {
        "type": "modal",
        "callback_id": CANCEL_MODAL_CALLBACK_ID,
        "title": {"type": "plain_text", "text": "Cancel an upgrade"},
        "submit": {"type": "plain_text", "text": "Request cancel"},
        "close": {"type": "plain_text", "text": "Close"},
        "private_metadata": json.dumps({"channel_id": form.channel_id}),
        "blocks": blocks,
    }


def message_modal(title: str, text: str) -> View:
    """A modal that only says something (while the bot works, or what came of a request)."""
    return {
        "type": "modal",
        "callback_id": CANCEL_MODAL_CALLBACK_ID,
        "title": {"type": "plain_text", "text": _text(title, 24)},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": [_section(text)],
    }


@dataclass(frozen=True)
class ModalInput:
    """What the person entered, as Slack reported it (unchecked)."""

    channel_id: str | None
    cluster: str | None
    workflow_id: str | None
    workflow_block: str | None  # the workflow block's id in the view, if it has one
    reason: str


def read_channel(private_metadata: object) -> str | None:
    """The channel the form was opened from, when the metadata carries one of Slack's shape."""
    try:
        data = json.loads(str(private_metadata or ""))
    except ValueError:
        return None
    channel = data.get("channel_id") if isinstance(data, dict) else None
    return channel if isinstance(channel, str) and _CHANNEL.fullmatch(channel) else None


def _state(view: dict[str, Any]) -> dict[str, Any]:
    state = view.get("state")
    values = state.get("values") if isinstance(state, dict) else None
    return values if isinstance(values, dict) else {}


def _entry(values: dict[str, Any], block_id: str, action_id: str) -> dict[str, Any]:
    block = values.get(block_id)
    entry = block.get(action_id) if isinstance(block, dict) else None
    return entry if isinstance(entry, dict) else {}


def _picked(entry: dict[str, Any]) -> str | None:
    picked = entry.get("selected_option")
    value = picked.get("value") if isinstance(picked, dict) else None
    return value if isinstance(value, str) and value else None


def _block_ids(view: dict[str, Any]) -> Sequence[str]:
    blocks = view.get("blocks")
    if not isinstance(blocks, list):
        return ()
    return [str(b.get("block_id", "")) for b in blocks if isinstance(b, dict)]


def read_modal(view: dict[str, Any]) -> ModalInput:
    """The submitted (or shown) form's values; any of them may be missing or malformed."""
    values = _state(view)
    cluster = _picked(_entry(values, CLUSTER_BLOCK_ID, CLUSTER_ACTION_ID))
    workflow_block = next(
        (b for b in _block_ids(view) if b.startswith(WORKFLOW_BLOCK_ID + ":")), None
    )
    workflow = None
    if workflow_block is not None:
        workflow = _picked(_entry(values, workflow_block, WORKFLOW_ACTION_ID))
    reason = _entry(values, REASON_BLOCK_ID, REASON_ACTION_ID).get("value")
    return ModalInput(
        channel_id=read_channel(view.get("private_metadata")),
        cluster=cluster,
        workflow_id=workflow,
        workflow_block=workflow_block,
        reason=reason.strip() if isinstance(reason, str) else "",
    )


def cluster_option(found: FoundCluster) -> dict[str, Any]:
    """A cluster as an option: its alias (or id) as value, what people call it as text."""
    version = found.version or "?"
    text = f"{found.label} · {version} · {found.phase or '?'} · {found.cluster_id[:8]}"
    return option(found.alias or found.cluster_id, text)
