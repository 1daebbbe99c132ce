"""Shared pieces of the end-to-end tests: ids of the simulator's default scenario, the bot's
YAML config for tests, and a helper to find the approval request the bot posted."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from bot.standin.slack_api import FakeSlack, Message
from bot.standin.stack import Stack

PROJECT = "47eb1d64cbeb45cfa01ae20af4f4b563"
PROD = "3f6c2a9e-1b7d-4c1e-9a2f-5d8e7b6a4c01"  # workflow FAILED: Pending, cancellable
STAGING = "3f6c2a9e-1b7d-4c1e-9a2f-5d8e7b6a4c02"  # workflow running
DEV = "3f6c2a9e-1b7d-4c1e-9a2f-5d8e7b6a4c03"  # workflow finished
QA = "3f6c2a9e-1b7d-4c1e-9a2f-5d8e7b6a4c04"  # critical line not run yet
WF_FAILED = "8a1d4e2f-6b3c-4f7a-9e1d-2c5b8a7f3e01"
WF_RUNNING = "8a1d4e2f-6b3c-4f7a-9e1d-2c5b8a7f3e02"
WF_DONE = "8a1d4e2f-6b3c-4f7a-9e1d-2c5b8a7f3e03"
WF_CRITICAL = "8a1d4e2f-6b3c-4f7a-9e1d-2c5b8a7f3e04"

REQUESTER = "U0REQUEST1"
LEAD1 = "U0LEAD1"
LEAD2 = "U0LEAD2"
GROUP_LEAD = "U0GROUPLEAD"
OUTSIDER = "U0OUTSIDER"
CHANNEL = "C0INCIDENT"


def bot_yaml(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "clusters": {
            "prod-eu": {"cluster_id": PROD},
            "staging-eu": {"cluster_id": STAGING},
            "dev-eu": {"cluster_id": DEV},
            "qa-eu": {"cluster_id": QA},
        },
        "approvers": {"users": [LEAD1, LEAD2], "usergroups": ["S0SRELEADS"]},
    }
    config.update(overrides)
    return config


def requests_posted(slack: FakeSlack) -> list[Message]:
    """Approval request messages (top level, carrying a request id), oldest first."""
    found = [m for m in slack.messages.values() if m.thread_ts is None and "req-" in text_of(m)]
    return sorted(found, key=lambda m: m.ts)


def approval_id_of(message: Message) -> str:
    match = re.search(r"req-[0-9a-f]+", text_of(message))
    if match is None:
        raise AssertionError("no request id in the message")
    return match.group(0)


def buttons(message: Message) -> list[str]:
    """action_ids of the buttons the message currently shows."""
    return [
        e["action_id"] for b in message.blocks if b.get("type") == "actions" for e in b["elements"]
    ]


def text_of(message: Message) -> str:
    """Everything readable in a message's current blocks and text."""
    return "\n".join([message.text, *(str(b) for b in message.blocks)])


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 5.0) -> None:
    """Wait until `check()` is true (polling every 10 ms), or fail after `within` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(0.01)


class FakeClock:
    """The bot's clock in a test: call it for the time, `advance` it instead of sleeping."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


async def cancel_failed_workflow(stack: Stack, requester: str = REQUESTER) -> str:
    """Request the failed workflow's cancel, have LEAD1 approve it, wait for its watch.

    Returns the request message's ts (the thread the progress goes to).
    """
    _, name = await stack.command(f"cancel prod-eu {WF_FAILED} disk pressure", user=requester)
    await stack.slack.wait_for("response_url", predicate=lambda c: c.params["_name"] == name)
    [message] = requests_posted(stack.slack)
    await stack.click(approval_id_of(message), user=LEAD1, message_ts=message.ts)
    await stack.slack.wait_for("chat.postMessage", count=2)

    async def watching() -> bool:
        return await stack.bot.store.watches.count_open() == 1

    await eventually(watching)
    return message.ts


def names_yaml(**overrides: Any) -> dict[str, Any]:
    """The config of the new way (SPEC §2.1): clusters found by name in a project, no aliases
    (the project's endpoint is the stack's CCE_ENDPOINT)."""
    config: dict[str, Any] = {
        "projects": [{"project_id": PROJECT}],
        "approvers": {"users": [LEAD1, LEAD2], "usergroups": ["S0SRELEADS"]},
    }
    config.update(overrides)
    return config


def add_cancellable_workflow(world: Any, cluster_id: str, age_seconds: float) -> str:
    """Another workflow like WF_FAILED (Cluster failed, phase Pending: open and cancellable)."""
    return str(
        world.add_workflow(
            cluster_id,
            points=[
                ("PreCheck", "Success"),
                ("Snapshot", "Success"),
                ("Cluster", "Failed"),
                ("PostCheck", None),
            ],
            phase="Pending",
            age_seconds=age_seconds,
        )
    )


async def answered(
    stack: Stack,
    name: str,
    count: int = 1,
    timeout: float = 5.0,  # noqa: ASYNC109 -- a deadline per wait reads best in tests
) -> dict[str, Any]:
    """The last thing the bot sent to the response_url `name`, once it has sent `count`."""
    await stack.slack.wait_for(
        "response_url",
        count=count,
        predicate=lambda c: c.params["_name"] == name,
        timeout=timeout,
    )
    return stack.responses(name)[-1]
