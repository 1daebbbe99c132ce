"""From a lead's approving click to the cancel (the PATCH) reaching the API, one at a time.

Once a lead approves, the bot re-reads the workflow and sends the cancel; the message's
"sending it" state is shown alongside (a `chat.update`), not before: a Slack round trip must not
delay the cancel. This measures that path in the running bot.

On loopback: the simulator and the Slack stand-in in this process, the bot in a subprocess
(`bench/botproc.py`: served with its scheduler, SQLite in a temp dir, the default request budget
of 20/s). The simulator holds a cancellable workflow for every request and plays no Rollback
after a cancel. For each of `--requests` requests, one at a time: `/cce-upgrade cancel` opens it
(the benchmark waits until it is posted), a lead clicks Approve, and the benchmark records the
click's HTTP answer (the ack), the PATCH's arrival at the simulator, and the "Cancelled" reply
in the request's thread; then it waits until the bot is idle before the next one.

Each `--slack-delays` value (seconds) is run in turn: the stand-in holds every `chat.update` and
`chat.postMessage` that long before answering, as a real Slack round trip would (0: the
stand-in's own speed; 0.25: about Slack's). Before the cancel went first, the approving click
waited for a `chat.update` round trip before the PATCH: with the stand-in at 0.25 s that alone
was 250 ms.

    python bench/cancel_latency.py [--requests 30] [--slack-delays 0,0.25] [--json PATH]

The last line is the target check: click → PATCH p50 ≤ 50 ms (with every delay).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from botproc import bot_process  # bench/botproc.py, next to this file

from bot.simulator import build_world, default_scenario, running_simulator
from bot.standin.people import People
from bot.standin.slack_api import FakeSlack
from bot.standin.slack_requests import post_signed
from bot.standin.stack import SIGNING_SECRET, SIM_TOKEN

PROD = "3f6c2a9e-1b7d-4c1e-9a2f-5d8e7b6a4c01"
LEAD, CHANNEL = "U0LEAD1", "C0INCIDENT"
CANCELLABLE = [("PreCheck", "Success"), ("Snapshot", "Success"), ("Cluster", "Failed")]
TARGET_MS = 50.0


def _pct(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def until(check: Any, within: float = 30.0) -> Any:
    """Poll `check()` every millisecond until it returns something truthy."""
    deadline = time.monotonic() + within
    while not (found := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen within {within:g} s")
        await asyncio.sleep(0.001)
    return found


async def one(people: People, slack: FakeSlack, sim: Any, workflow_id: str) -> dict[str, float]:
    """Open a request on `workflow_id`, approve it; the click's timings in ms."""
    _, name = await people.command(f"cancel prod-eu {workflow_id} bench")
    await slack.wait_for("response_url", predicate=lambda c: c.params["_name"] == name, timeout=30)
    [message] = [
        m
        for m in slack.messages.values()
        if m.thread_ts is None and workflow_id in m.text + str(m.blocks)
    ]
    found = re.search(r"req-[0-9a-f]+", message.text + str(message.blocks))
    assert found, "no request id in the posted request"
    await asyncio.sleep(0.2)  # the bot is idle again: nothing of the opening overlaps the click
    calls0 = len(sim.world.calls)
    wall0, mono0 = time.time(), time.monotonic()
    response, _ = await people.click(
        "cce_cancel_approve", found.group(0), user=LEAD, channel=CHANNEL, message_ts=message.ts
    )
    ack = time.monotonic() - mono0
    assert response.status_code == 200

    def patched() -> float | None:
        return next(
            (
                c.at
                for c in sim.world.calls[calls0:]
                if c.method == "PATCH" and c.path.endswith(workflow_id)
            ),
            None,
        )

    patch_at = await until(patched)

    def replied() -> float | None:
        return next(
            (
                c.at
                for c in slack.calls_to("chat.postMessage")
                if c.params.get("thread_ts") == message.ts and "Cancelled" in str(c.params)
            ),
            None,
        )

    reply_at = await until(replied)
    return {
        "ack": ack * 1000,
        "patch": (patch_at - mono0) * 1000,
        "reply": (reply_at - wall0) * 1000,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    delays = [float(d) for d in args.slack_delays.split(",") if d]
    world = build_world(default_scenario(), rollback_after_cancel=False)
    pool = [
        world.add_workflow(PROD, points=[*CANCELLABLE, ("PostCheck", None)], phase="Pending")
        for _ in range(args.requests * len(delays) + args.warmup)
    ]
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        async with (
            running_simulator(world, token=SIM_TOKEN) as sim,
            FakeSlack() as slack,
            httpx.AsyncClient(trust_env=False, timeout=30.0) as http,
        ):
            db = f"sqlite+aiosqlite:///{Path(tmp) / 'bot.db'}"
            yaml = {"clusters": {"prod-eu": {"cluster_id": PROD}}, "approvers": {"users": [LEAD]}}
            async with bot_process(sim, slack, db, yaml, Path(tmp) / "bot.log") as url:

                async def deliver(body: bytes) -> httpx.Response:
                    return await post_signed(url, body, SIGNING_SECRET, client=http)

                people = People(slack, deliver)
                for _ in range(args.warmup):
                    await one(people, slack, sim, pool.pop())
                for delay in delays:
                    slack.delay = {"chat.update": delay, "chat.postMessage": delay}
                    runs = [await one(people, slack, sim, pool.pop()) for _ in range(args.requests)]
                    row = {
                        key: {
                            "p50": round(_pct([r[key] for r in runs], 50), 1),
                            "p95": round(_pct([r[key] for r in runs], 95), 1),
                            "max": round(max(r[key] for r in runs), 1),
                        }
                        for key in ("ack", "patch", "reply")
                    }
                    figures[f"{delay:g}"] = row
                    print(
                        f"Slack stand-in answering chat.* after {delay * 1000:.0f} ms: "
                        + " | ".join(
                            f"click → {label} p50 {row[key]['p50']:.1f} ms, p95 "
                            f"{row[key]['p95']:.1f} ms, max {row[key]['max']:.1f} ms"
                            for key, label in (
                                ("ack", "ack"),
                                ("patch", "PATCH at the API"),
                                ("reply", "'Cancelled' in the thread"),
                            )
                        ),
                        flush=True,
                    )
    worst = max(row["patch"]["p50"] for row in figures.values())
    met = worst <= TARGET_MS
    print(
        f"target: approving click → PATCH p50 ≤ {TARGET_MS:g} ms one at a time: worst p50 "
        f"{worst:.1f} ms {'PASS' if met else 'FAIL'}"
    )
    return {"delays": figures, "patch_p50_worst": worst, "targets": {"patch_p50": met}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=30, help="approvals per Slack delay")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--slack-delays", default="0,0.25", help="seconds, comma-separated")
    parser.add_argument("--json", help="write the figures here (for bench/report.py)")
    args = parser.parse_args()
    figures = asyncio.run(run(args))
    if args.json:
        out = {"benchmark": "cancel_latency", "args": vars(args) | {"json": None}, **figures}
        Path(args.json).write_text(json.dumps(out, indent=1), encoding="utf-8")


if __name__ == "__main__":
    os.environ.setdefault("SKIP_SLACK_SDK_WARNING", "1")
    main()
