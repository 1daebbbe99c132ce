"""Block Kit for finding things: the clusters the bot can see (`clusters`), and the choice of a
workflow when a command left it out and the cluster has several open (SPEC §2).

Pure builders. A choice button's value is the whole command to continue, as it would be typed
(`bot.domain.commands.command_text`): a click is parsed and checked like a typed command.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.cce.found import ClusterListing, FoundCluster
from bot.domain.workflows import OpenWorkflow
from bot.slack.blocks import escape

__all__ = [
    "PICK_WORKFLOW_ACTION_ID",
    "api_time",
    "clusters_message",
    "workflow_choice",
    "workflow_label",
]

PICK_WORKFLOW_ACTION_ID = "cce_pick_workflow"
MAX_CHOICES = 20  # sections in one answer; a cluster has far fewer open workflows
MAX_CLUSTERS = 60  # lines in `clusters`; the rest are counted

Block = dict[str, Any]


def api_time(value: datetime | str | None) -> str:
    """`2026-12-01 08:47 UTC` for a parsed time; text the API sent in another format as is."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return value or "?"


def _short_time(value: datetime | str | None) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%m-%d %H:%M")
    return (value or "?")[:16]


def workflow_label(workflow: OpenWorkflow) -> str:
    """Plain text of at most 75 characters (an option's limit): versions, phase, created, id."""
    snap = workflow.snap
    label = (
        f"{snap.cluster_version or '?'} → {snap.target_version or '?'} · "
        f"{snap.phase or 'unknown'} · {_short_time(workflow.created)} · "
        f"{workflow.workflow_id[:8]}"
    )
    return label if len(label) <= 75 else label[:74] + "…"


def workflow_choice(
    verb: str, cluster: str, choices: list[tuple[OpenWorkflow, str]]
) -> tuple[str, list[Block]]:
    """The answer when several workflows are open: one button per workflow, newest first, each
    carrying (in `value`) the command that continues with it."""
    head = (
        f"*{len(choices)} upgrade workflows on {escape(cluster)} have not settled.* "
        f"Which one do you want to {verb}?"
    )
    blocks: list[Block] = [{"type": "section", "text": {"type": "mrkdwn", "text": head}}]
    for workflow, command in choices[:MAX_CHOICES]:
        snap = workflow.snap
        text = (
            f"`{workflow.workflow_id}`\n*{escape(snap.phase or 'unknown')}* · "
            f"{escape(snap.cluster_version or '?')} → {escape(snap.target_version or '?')} · "
            f"created {escape(api_time(workflow.created))}"
        )
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": text},
                "accessory": {
                    "type": "button",
                    "action_id": PICK_WORKFLOW_ACTION_ID,
                    "text": {"type": "plain_text", "text": f"{verb.capitalize()} this one"},
                    "value": command,
                },
            }
        )
    fallback = f"{len(choices)} upgrade workflows on {cluster} have not settled: pick one."
    return fallback, blocks


def _cluster_line(found: FoundCluster) -> str:
    name = found.name or found.alias or "?"
    alias = f" (alias `{escape(found.alias)}`)" if found.alias and found.alias != name else ""
    return (
        f"• *{escape(name)}*{alias} `{found.cluster_id}` · project `{found.project_id}` · "
        f"{escape(found.version or '?')} · {escape(found.phase or '?')}"
    )


def clusters_message(listing: ClusterListing) -> tuple[str, list[Block]]:
    """The answer to `clusters`: name, id, project, version and phase of each, and the
    projects that could not be listed."""
    lines = [_cluster_line(f) for f in listing.clusters[:MAX_CLUSTERS]]
    if len(listing.clusters) > MAX_CLUSTERS:
        lines.append(f"_…and {len(listing.clusters) - MAX_CLUSTERS} more_")
    if not lines:
        lines.append("_none: add `projects:` (or `clusters:` aliases) to the bot's config_")
    for unlisted in listing.unlisted:
        rid = f" (request id `{escape(unlisted.request_id)}`)" if unlisted.request_id else ""
        lines.append(
            f":warning: Project `{unlisted.project.project_id}` could not be listed: "
            f"{escape(unlisted.reason)}{rid}"
        )
    text = "*Clusters the bot can see* (use the name, or the id, in a command)\n" + "\n".join(lines)
    blocks: list[Block] = []
    while text:  # a section holds 3000 characters; split on lines
        at = text.rfind("\n", 0, 3000) if len(text) > 3000 else len(text)
        cut = text[:at] if at > 0 else text[:3000]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": cut}})
        text = text[len(cut) :].lstrip("\n")
    return f"{len(listing.clusters)} clusters the bot can see", blocks
