"""`cce-upgrade-bot demo`: the whole story offline, printed as people would see it in Slack.

It starts the simulator (with a failed upgrade), the Slack stand-in and the bot in HTTP mode with
its scheduler, then plays the people: a requester types the cancel by the cluster's name (the bot
finds the cluster in the configured project, and its one upgrade in progress), a non-lead tries to
approve, a lead opens the bot's Home tab and approves there, and the progress arrives in the
thread. The bot runs its production code; only
the people and the two outside services are stand-ins. Exits 0 only when the simulator's workflow
really ended in `Cancel` and the thread got its summary.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from bot.simulator import default_world, running_simulator
from bot.slack.blocks import APPROVE_ACTION_ID
from bot.slack.home import HOME_DECISION_BLOCK_PREFIX
from bot.standin.slack_api import BOT_USER_ID, Call, Event, FakeSlack
from bot.standin.stack import SIM_TOKEN, Stack, running_stack
from bot.standin.transcript import indent, render_blocks, render_mrkdwn

__all__ = ["run_demo"]

WORKFLOW = "8a1d4e2f-6b3c-4f7a-9e1d-2c5b8a7f3e01"
CHANNEL = "C0INCIDENT"
PEOPLE = {
    "U0ALICE": "alice (on call)",
    "U0BOB": "bob",
    "U0CAROL": "carol (SRE lead)",
    BOT_USER_ID: "cce-upgrade-bot",
}
NAMES = {"U0ALICE": "alice", "U0BOB": "bob", "U0CAROL": "carol", BOT_USER_ID: "cce-upgrade-bot"}


class Conversation:
    """Collects what people did and what the stand-in saw, and prints them in time order."""

    def __init__(self, slack: FakeSlack, out: TextIO) -> None:
        self.slack = slack
        self.out = out
        self.actions: list[tuple[float, str, str]] = []
        self.answers: dict[str, str] = {}  # response_url name → who it answers
        self.shown: dict[str, list[str]] = {}  # message ts (or Home view id) → lines printed

    def did(self, who: str, what: str) -> None:
        self.actions.append((time.time(), who, what))

    def print(self) -> None:
        items: list[tuple[float, str, Any]] = [(at, "action", (w, t)) for at, w, t in self.actions]
        items += [(e.at, "event", e) for e in self.slack.transcript()]
        for _, kind, item in sorted(items, key=lambda i: i[0]):
            lines = self._action(*item) if kind == "action" else self._event(item)
            print("\n".join(lines), file=self.out)

    def _action(self, who: str, what: str) -> list[str]:
        return ["", f"{PEOPLE[who]} ▸ {what}"]

    def _event(self, event: Event) -> list[str]:
        body = render_blocks(event.blocks, event.text, NAMES)
        bot = PEOPLE[BOT_USER_ID]
        if event.kind == "message":
            self.shown[event.ts or ""] = body
            return ["", f"{bot} ▸", *indent(body, "  │ ", "  │ ")]
        if event.kind == "reply":
            return indent(body, "      ↳ ", "        ")
        if event.kind == "update":
            before = self.shown.get(event.ts or "", [])
            self.shown[event.ts or ""] = body
            changed = [line for line in body if line not in before]
            gone = [
                f"(buttons removed: {line})"
                for line in before
                if line not in body and line.startswith("[")
            ]
            return [
                "",
                f"{bot} ▸ (edits the request; changed lines)",
                *indent(changed + gone, "  │ ", "  │ "),
            ]
        if event.kind == "home published":
            return self._home(event, body)
        if event.kind == "ephemeral":
            who = NAMES.get(event.user or "", "?")
            return indent([render_mrkdwn(event.text, NAMES)], f"  (only {who} sees) ")
        who = NAMES.get(self.answers.get(str(event.extra.get("_name")), ""), "you")
        return indent(body, f"  (only {who} sees) ")

    def _home(self, event: Event, body: list[str]) -> list[str]:
        """A Home tab: in full the first time, then the lines that changed."""
        who = NAMES.get(event.user or "", "?")
        view_id = str(event.extra.get("view_id"))
        before = self.shown.get(view_id)
        self.shown[view_id] = body
        if before is None:
            return [
                "",
                f"{PEOPLE[BOT_USER_ID]} ▸ ({who}'s Home tab)",
                *indent(body, "  │ ", "  │ "),
            ]
        changed: list[str] = []
        heading = None  # each changed line goes under its section's heading
        for line in body:
            if line.isupper():
                heading = line
            elif line not in before and not line.startswith("Updated"):
                if heading is not None:
                    changed.append(heading)
                    heading = None
                changed.append(line)
        return [
            "",
            f"{PEOPLE[BOT_USER_ID]} ▸ (publishes {who}'s Home tab again; changed lines)",
            *indent(changed, "  │ ", "  │ "),
        ]


async def _play(stack: Stack, talk: Conversation) -> None:
    command = "cancel prod-eu node pool stuck after the upgrade, paging"  # by name, no UUID
    talk.did("U0ALICE", f"/cce-upgrade {command}")
    _, name = await stack.command(command, user="U0ALICE", channel=CHANNEL)
    talk.answers[name] = "U0ALICE"
    await stack.slack.wait_for("response_url", predicate=_answer_to(name))
    roots = [m for m in stack.slack.messages.values() if m.thread_ts is None]
    if not roots:
        raise RuntimeError("the bot posted no approval request")
    request = roots[0]
    approval_id = _approval_id(request.text + str(request.blocks))
    talk.did("U0BOB", "clicks [ Approve cancel ] → confirms “Yes, cancel it”")
    _, name = await stack.click(approval_id, user="U0BOB", message_ts=request.ts)
    talk.answers[name] = "U0BOB"
    await stack.slack.wait_for("response_url", predicate=_answer_to(name))
    talk.did("U0CAROL", "opens the bot's Home tab")
    await stack.event_home_opened("U0CAROL")
    await stack.slack.wait_for("views.publish")
    home = stack.slack.home("U0CAROL")
    if home is None:
        raise RuntimeError("the bot published no Home tab")
    talk.did("U0CAROL", "clicks [ Approve cancel ] there → confirms “Yes, cancel it”")
    block_id = HOME_DECISION_BLOCK_PREFIX + approval_id
    await stack.select(str(home["id"]), APPROVE_ACTION_ID, block_id, approval_id, user="U0CAROL")
    await stack.slack.wait_for("views.publish", count=2)
    deadline = time.monotonic() + 40
    while await stack.bot.store.watches.count_open() or not _settled(stack, request.ts):
        if time.monotonic() > deadline:
            raise RuntimeError("the progress did not settle within 40 s")
        await asyncio.sleep(0.2)


def _answer_to(name: str) -> Callable[[Call], bool]:
    return lambda call: call.params.get("_name") == name


def _approval_id(text: str) -> str:
    import re

    match = re.search(r"req-[0-9a-f]+", text)
    if match is None:
        raise RuntimeError("no request id in the approval message")
    return match[0]


def _settled(stack: Stack, ts: str) -> bool:
    return any("settled" in m.text for m in stack.slack.thread(CHANNEL, ts))


async def run_demo(*, verbose: bool = False, out: TextIO = sys.stdout) -> int:
    """Play the story; 0 when the workflow really ended in Cancel with its summary posted."""
    logging.basicConfig(level=logging.INFO if verbose else logging.CRITICAL, stream=sys.stderr)
    started = time.monotonic()
    world = default_world(step_seconds=1.5)
    yaml = {
        "projects": [{"project_id": world.project_id}],  # clusters found by their names
        "approvers": {"users": ["U0CAROL"]},
        "channels": [CHANNEL],
        "watch": {"interval": "1s", "fast_interval": "1s"},
    }
    print(
        "cce-upgrade-bot demo: the simulator, a stand-in for Slack and the bot, all on this "
        "machine.\n#incident-2231",
        file=out,
    )
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'demo.db'}"
        async with (
            running_simulator(world, token=SIM_TOKEN) as sim,
            running_stack(sim, url, yaml, scheduler=True) as stack,
        ):
            talk = Conversation(stack.slack, out)
            try:
                await _play(stack, talk)
            except (RuntimeError, AssertionError) as exc:
                talk.print()
                print(f"\ndemo FAILED: {exc}", file=out)
                return 1
            talk.print()
            phase = sim.world.phase(WORKFLOW)
            patches = sum(1 for c in sim.world.calls if c.method == "PATCH")
    took = time.monotonic() - started
    ok = phase == "Cancel" and patches == 1
    print(
        f"\n{'demo OK' if ok else 'demo FAILED'}: the simulator's workflow is in phase {phase}, "
        f"{patches} cancel call(s) reached it; {took:.1f} s.",
        file=out,
    )
    return 0 if ok else 1
