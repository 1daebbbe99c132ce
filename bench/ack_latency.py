"""How fast the bot answers Slack (time to the HTTP 200), against a bare Bolt app that only acks.

Slack gives an app 3 s to answer a slash command or a button click; the bot acks first and does
the API and database work afterwards, so its ack should cost about what Bolt's own does.

Starts the simulator and the Slack stand-in here, then the bot (stand-in config, SQLite in a
temp dir) and a bare `slack_bolt.async_app.AsyncApp` whose listeners only `ack()`, each served by
aiohttp on 127.0.0.1:0 with its `AsyncWebClient` pointed at the same FakeSlack. Both apps run in
their own subprocess (`--in-process` runs them in this one), so the load generator's CPU and the
bot's own follow-up work (the CCE read, the store, the response_url post, served by stand-ins in
this process) do not land on the same event loop as the app being measured twice over. The load
generator is an aiohttp session (httpx's pool caps out near 190 req/s at concurrency 50).

Kinds of request (`KINDS`, one entry each; `--kinds` picks some), each with N signed requests
at the given concurrency: `help` (answered in the ack), `status prod-eu <WF_FAILED>` (ack, then
a GET and a response_url post), a click on an approval id that does not exist, an outsider's
click on a real pending request (ack, then store + approver lookup + a refusal), `/cce-upgrade`
alone (ack, then `views.open` with the command's trigger id: the cancel modal), the modal's
cluster options (`block_suggestion`, answered in the ack from the cached cluster list), and the
two heavy paths: `cancel <cluster> <workflow> …` (ack, then a GET, the store, the request message
posted, a response_url post), each on a workflow of its own (ten to a cluster), and a lead's
approving click on one of the requests those opened (ack, then the store, the re-read, the PATCH
that cancels, the message updated, the outcome posted in the thread and a watch started). The
simulator holds a cancellable workflow for every `cancel` sent, and plays no Rollback after a
cancel, so each of those watches settles at its first poll, a `watch.interval` later. After
each run of ours the benchmark waits until all its follow-up work has arrived (response_url
posts; the modals; for the approving click, the "Cancelled" reply in each thread and then each
watch's summary), so its follow-up never overlaps the next run.

The bot runs with its scheduler, as in production: the housekeeping job (every second) and
`watcher.tick`, which polls `--watches` (50) watches opened at the start with `/cce-upgrade
watch`, five to a cluster, a task running in each (so read every 2 s), all along. Its request
budget is raised (`cce.max_requests_per_second: 1000`): each approving click makes two API
calls, and at the default 20/s the follow-up of a run of 200 would take 20 s (the budget has its
own benchmark, `bench/budget_burst.py`).

Rounds: the whole set of scenarios is run `--rounds` times (default 5), each scenario bare then
ours in even rounds and ours then bare in odd ones (ABBA), so neither app always goes first.
A p99 over 200 samples is about the third-slowest request, so one burst's figure moves by ±20 %
from run to run on a shared 2-vCPU box; the target check is therefore the median over rounds of
each round's ratio (our p99 / bare p99 over all scenarios of that round), the same for both apps.
`--rounds 1` is the earlier single-pass measurement (bare first). The load generator (this
process) collects garbage before each run and not during it: its own 30-50 ms full collections
otherwise land on whichever app is being measured. The apps' processes keep their GC as it is.

    python bench/ack_latency.py [--requests 200] [--concurrency 50] [--warmup 50] [--rounds 5]
                                [--kinds help,status,...] [--watches 50] [--in-process]
                                [--json PATH]

One line per app and scenario, pooled over the rounds (p50/p99/max in ms, req/s; for ours also
the per-round p99 ratios and how long after a run's first request its last response_url post
arrived, median over rounds: the post-ack work is not measured by the ack figures, this shows
it is done); then each round's ratio, and the last line: their median and the ratio pooled over
all rounds (target ≤ 1.2×). `--json` writes the figures (per kind and overall) for
`bench/report.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot.config import BotConfig, Config, Settings
from bot.simulator import World, build_world, default_scenario, running_simulator
from bot.slack.blocks import APPROVE_ACTION_ID, REJECT_ACTION_ID
from bot.slack.modal import CLUSTER_ACTION_ID, CLUSTER_BLOCK_ID
from bot.standin.slack_api import FakeSlack
from bot.standin.slack_requests import block_actions_body, sign, slash_command_body
from bot.standin.stack import FAST_RETRY, SIGNING_SECRET, SIM_TOKEN
from bot.standin.view_requests import block_suggestion_body

PROD = "3f6c2a9e-1b7d-4c1e-9a2f-5d8e7b6a4c01"
WF_FAILED = "8a1d4e2f-6b3c-4f7a-9e1d-2c5b8a7f3e01"
OUTSIDER, REQUESTER, CHANNEL, LEAD = "U0OUTSIDER", "U0REQUEST1", "C0INCIDENT", "U0LEAD1"
STANDIN_TOKEN = "xoxb-standin"  # noqa: S105  the stand-in accepts any xoxb- token
SELF = str(Path(__file__).resolve())
BOT_YAML: dict[str, Any] = {
    "clusters": {"prod-eu": {"cluster_id": PROD}},
    "approvers": {"users": [LEAD, "U0LEAD2"], "usergroups": ["S0SRELEADS"]},
    "cce": {"max_requests_per_second": 1000},  # the ack path, not the budget (docstring)
}
CANCELLABLE = [("PreCheck", "Success"), ("Snapshot", "Success"), ("Cluster", "Failed")]


# -- the two apps (run with --serve in a subprocess, or in-process) -------------------------


async def serve_ours(sim_url: str, project_id: str, slack_api: str, db: str) -> tuple[str, Any]:
    from bot.app import create_app
    from bot.standin.stack import serve_bot

    settings = Settings(
        slack_bot_token=STANDIN_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack_api,
        cce_auth_token=SIM_TOKEN,
        cce_project_id=project_id,
        cce_endpoint=sim_url,
        database_url=db,
    )
    config = Config(settings, BotConfig.model_validate(BOT_YAML))
    server = await serve_bot(create_app(config, retry=FAST_RETRY), scheduler=True)
    return server.url, server.stop


async def serve_bare(slack_api: str) -> tuple[str, Any]:
    from slack_bolt.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    app = AsyncApp(
        client=AsyncWebClient(token=STANDIN_TOKEN, base_url=slack_api),
        signing_secret=SIGNING_SECRET,
    )

    async def just_ack(ack: Any) -> None:
        await ack()

    app.command("/cce-upgrade")(just_ack)
    app.action(APPROVE_ACTION_ID)(just_ack)
    app.action(REJECT_ACTION_ID)(just_ack)
    app.options(CLUSTER_ACTION_ID)(just_ack)
    runner = web.AppRunner(app.web_app(), access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    return f"http://{host}:{port}", runner.cleanup


async def serve_main(argv: list[str]) -> None:
    """`--serve ours SIM PROJECT SLACK DB` or `--serve bare SLACK`: print the URL, serve until
    stdin closes."""
    kind, *rest = argv
    if kind == "ours":
        url, stop = await serve_ours(*rest)
    else:
        url, stop = await serve_bare(*rest)
    print(f"URL {url}", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # EOF when the parent closes the pipe
    await stop()


@contextlib.asynccontextmanager
async def app_process(args: list[str], log: Path) -> AsyncIterator[str]:
    """Serve one app in a subprocess, its log going to the file `log`; yields its URL."""
    env = {**os.environ, "SKIP_SLACK_SDK_WARNING": "1"}
    with log.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            SELF,
            "--serve",
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=err,
            env=env,
        )
    assert proc.stdout is not None and proc.stdin is not None
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        match = re.match(r"URL (\S+)", line)
        assert match, f"the app did not start: {line!r}"
        yield match.group(1)
    finally:
        proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()  # only the child this function started
            await proc.wait()


@contextlib.asynccontextmanager
async def app_here(serve: Callable[..., Any], *args: str) -> AsyncIterator[str]:
    url, stop = await serve(*args)
    try:
        yield url
    finally:
        await stop()


# -- load -----------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    latencies: list[float]
    wall: float
    statuses: dict[int, int]
    done: float | None = None  # ours: from the first request until its follow-up had arrived

    @classmethod
    def pooled(cls, name: str, results: list[Result]) -> Result:
        """All samples of several runs as one (req/s over their summed wall time)."""
        return cls(
            name,
            [x for r in results for x in r.latencies],
            sum(r.wall for r in results),
            {},
        )

    def pct(self, q: int) -> float:
        cuts = statistics.quantiles(self.latencies, n=100, method="inclusive")
        return cuts[q - 1] * 1000

    @property
    def p99(self) -> float:
        return self.pct(99)

    def line(self, baseline: Result | None = None) -> str:
        ratio = f"  p99 ×{self.p99 / baseline.p99:.2f} of bare" if baseline else ""
        return (
            f"{self.name:<28} n={len(self.latencies):<5} p50={self.pct(50):7.2f} ms  "
            f"p99={self.p99:7.2f} ms  max={max(self.latencies) * 1000:7.2f} ms  "
            f"{len(self.latencies) / self.wall:7.1f} req/s{ratio}"
        )


@dataclass
class Rounds:
    """Every run by round, app ("bare"/"ours") and scenario, and how each is summed up."""

    runs: dict[tuple[int, str, str], Result] = field(default_factory=dict)
    done: dict[str, list[float]] = field(default_factory=dict)

    def add(self, round_no: int, kind: str, name: str, result: Result) -> None:
        self.runs[(round_no, kind, name)] = result

    def answered(self, name: str, seconds: float) -> None:
        """Ours: from a run's first request until its last response_url post arrived."""
        self.done.setdefault(name, []).append(seconds * 1000)

    def select(self, kind: str, name: str | None = None, round_no: int | None = None) -> Result:
        """The runs that match, pooled."""
        picked = [
            r
            for (n, k, s), r in sorted(self.runs.items())
            if k == kind and name in (None, s) and round_no in (None, n)
        ]
        return Result.pooled(f"{kind}  {name or 'all'}", picked)

    def report(self, names: list[str], concurrency: int) -> dict[str, Any]:
        """Print the summary; return the figures `--json` writes."""
        count = 1 + max(n for n, _, _ in self.runs)
        kinds: dict[str, Any] = {}
        for name in names:
            bare, ours = self.select("bare", name), self.select("ours", name)
            per_round = [
                self.select("ours", name, n).p99 / self.select("bare", name, n).p99
                for n in range(count)
            ]
            extra = "  rounds ×" + "/".join(f"{r:.2f}" for r in per_round)
            done = statistics.median(self.done[name]) if name in self.done else None
            if done is not None:
                extra += f"  answers done {done:.0f} ms"
            print(bare.line())
            print(ours.line(bare) + extra)
            kinds[name] = {
                "bare_p50": round(bare.pct(50), 2),
                "bare_p99": round(bare.p99, 2),
                "ours_p50": round(ours.pct(50), 2),
                "ours_p99": round(ours.p99, 2),
                "ratio_median": round(statistics.median(per_round), 3),
                "ratio_pooled": round(ours.p99 / bare.p99, 3),
                "answers_done_ms": None if done is None else round(done),
            }
        ratios = [
            self.select("ours", round_no=n).p99 / self.select("bare", round_no=n).p99
            for n in range(count)
        ]
        bare, ours = self.select("bare"), self.select("ours")
        print("per-round p99 ours/bare: " + ", ".join(f"{r:.2f}x" for r in ratios))
        print(
            f"p99 ours/bare at concurrency {concurrency}, median of {count} rounds: "
            f"{statistics.median(ratios):.2f}x (pooled: {ours.p99:.2f} ms / {bare.p99:.2f} ms "
            f"= {ours.p99 / bare.p99:.2f}x) (target <= 1.2x)"
        )
        return {
            "concurrency": concurrency,
            "rounds": count,
            "kinds": kinds,
            "ratio_median": round(statistics.median(ratios), 3),
            "ratio_pooled": round(ours.p99 / bare.p99, 3),
            "ours_p99": round(ours.p99, 2),
            "bare_p99": round(bare.p99, 2),
        }


async def blast(
    http: aiohttp.ClientSession, url: str, bodies: list[bytes], concurrency: int, name: str
) -> Result:
    """POST pre-built bodies, signed just before the run, `concurrency` at a time."""
    signed = [(body, sign(body, SIGNING_SECRET)) for body in bodies]
    queue = list(reversed(signed))
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def worker() -> None:
        while queue:
            body, headers = queue.pop()
            started = time.perf_counter()
            async with http.post(url, data=body, headers=headers) as response:
                await response.read()
            latencies.append(time.perf_counter() - started)
            statuses[response.status] = statuses.get(response.status, 0) + 1

    # The load generator's own GC stays out of the timed window (it holds the stand-ins' records
    # too, so a full collection here takes 30-50 ms); the apps' processes are left as they are.
    gc.collect()
    gc.disable()
    try:
        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        result = Result(name, latencies, time.perf_counter() - began, statuses)
    finally:
        gc.enable()
    assert statuses == {200: len(bodies)}, f"{name}: {statuses}"
    return result


# -- kinds of request -----------------------------------------------------------------------


@dataclass
class Bench:
    """What the kinds build their requests from, and what ours' follow-up work has done."""

    slack: FakeSlack
    cancellable: list[tuple[str, str]]  # (cluster, workflow) no `cancel` has named yet
    outsider_target: tuple[str, str] = ("", "")  # a pending request (approval id, message ts)
    opened: list[tuple[str, str]] = field(default_factory=list)  # ours' requests not yet clicked
    seen: set[str] = field(default_factory=set)  # approval ids already put in `opened`
    counter: Iterator[int] = field(default_factory=lambda: iter(range(10**9)))

    def command(self, text: str, user: str = REQUESTER) -> bytes:
        url = self.slack.response_url(f"c{next(self.counter)}")
        return slash_command_body(text, response_url=url, user_id=user)

    def click(
        self, approval_id: str, user: str = OUTSIDER, message_ts: str = "1700000000.000100"
    ) -> bytes:
        return block_actions_body(
            action_id=APPROVE_ACTION_ID,
            value=approval_id,
            user_id=user,
            channel_id=CHANNEL,
            message_ts=message_ts,
            response_url=self.slack.response_url(f"a{next(self.counter)}"),
        )

    def modal_command(self) -> bytes:
        """`/cce-upgrade` alone, with a trigger id the stand-in issued (3 s, once)."""
        url = self.slack.response_url(f"m{next(self.counter)}")
        trigger_id = self.slack.new_trigger_id(REQUESTER)
        return slash_command_body("", response_url=url, trigger_id=trigger_id)

    def options(self, typed: str = "prod") -> bytes:
        view = {"id": "VBENCH", "type": "modal", "callback_id": "cce_cancel_modal"}
        return block_suggestion_body(
            view=view,
            action_id=CLUSTER_ACTION_ID,
            block_id=CLUSTER_BLOCK_ID,
            value=typed,
            user_id=REQUESTER,
        )

    def collect_opened(self) -> None:
        """Put the requests ours has posted since the last look in `opened`, oldest first."""
        for message in sorted(self.slack.messages.values(), key=lambda m: m.ts):
            found = re.search(r"req-[0-9a-f]+", message.text + str(message.blocks))
            if message.thread_ts is None and found and found.group(0) not in self.seen:
                self.seen.add(found.group(0))
                self.opened.append((found.group(0), message.ts))


def _responses(slack: FakeSlack) -> int:
    return len(slack.responses)


def _replies(text: str) -> Callable[[FakeSlack], int]:
    def count(slack: FakeSlack) -> int:
        return sum(
            1
            for c in slack.calls_to("chat.postMessage")
            if c.params.get("thread_ts") and text in str(c.params.get("text"))
        )

    return count


FOLLOW_UPS: dict[str, Callable[[FakeSlack], int]] = {
    "response_url": _responses,  # an answer to the person who typed or clicked
    "views.open": lambda slack: len(slack.calls_to("views.open")),  # the cancel modal
    "cancelled": _replies("Cancelled."),  # the outcome reply in the request's thread
    # The watch an approval starts settles at its first poll (no Rollback comes), a
    # `watch.interval` later: waited for, so that it does not land on the next run.
    "settled": _replies("settled in phase"),
}


@dataclass(frozen=True)
class Kind:
    """One kind of request. `make(bench, app)` builds one body for "bare" or "ours"; each of
    ours leads to one of each `follow_ups` (`FOLLOW_UPS` keys; none: answered in the ack; the
    first is what "answers done" times); `after` runs after each run of ours."""

    name: str
    make: Callable[[Bench, str], bytes]
    follow_ups: tuple[str, ...] = ()
    after: Callable[[Bench], None] | None = None


def _cancel(bench: Bench, app: str) -> bytes:
    cluster_id, workflow_id = bench.cancellable.pop()
    return bench.command(f"cancel {cluster_id} {workflow_id} bench")


def _approve(bench: Bench, app: str) -> bytes:
    if app == "bare":  # bare only acks: any id of the same shape
        return bench.click(f"req-{next(bench.counter):012x}", LEAD)
    approval_id, message_ts = bench.opened.pop(0)
    return bench.click(approval_id, LEAD, message_ts)


ANSWER = ("response_url",)
KINDS: list[Kind] = [
    Kind("help", lambda b, app: b.command("help")),
    Kind("status", lambda b, app: b.command(f"status prod-eu {WF_FAILED}"), ANSWER),
    Kind("click unknown id", lambda b, app: b.click("req-000000000000"), ANSWER),
    Kind("click outsider", lambda b, app: b.click(*b.outsider_target), ANSWER),
    Kind("modal open (no text)", lambda b, app: b.modal_command(), ("views.open",)),
    Kind("options (block_suggestion)", lambda b, app: b.options()),
    Kind("cancel", _cancel, ANSWER, after=Bench.collect_opened),
    # After `cancel`: clicks what it opened.
    Kind("approve (cancels)", _approve, ("cancelled", "settled")),
]


async def drained(bench: Bench, expected: dict[str, int], timeout: float = 120.0) -> None:  # noqa: ASYNC109
    """Wait until the bot's follow-up work (answers, outcome replies) has all arrived."""
    deadline = time.monotonic() + timeout
    while any(FOLLOW_UPS[k](bench.slack) < n for k, n in expected.items()):
        if time.monotonic() > deadline:
            seen = {k: FOLLOW_UPS[k](bench.slack) for k in expected}
            raise AssertionError(f"follow-up work not done in {timeout:g} s: {seen} < {expected}")
        await asyncio.sleep(0.01)


def _world(
    cancellable: int, watched: int
) -> tuple[World, list[tuple[str, str]], list[tuple[str, str]]]:
    """The default scenario (scripted steps never play on their own, no Rollback after a
    cancel), `cancellable` workflows ten to a cluster, and `watched` workflows with a task
    running, five to a cluster. The (cluster, workflow) pairs of both."""
    world = build_world(default_scenario(), step_seconds=1e9, rollback_after_cancel=False)
    points = [*CANCELLABLE, ("PostCheck", None)]
    pool = []
    for i in range(cancellable):
        if i % 10 == 0:
            cluster_id = world.add_cluster(str(uuid.uuid4()))
        pool.append((cluster_id, world.add_workflow(cluster_id, points=points, phase="Pending")))
    running = []
    for i in range(watched):
        if i % 5 == 0:
            cluster_id = world.add_cluster(str(uuid.uuid4()))
        running += [(cluster_id, w) for w in world.add_running_workflows(cluster_id, 1)]
    return world, pool, running


async def run(args: argparse.Namespace) -> dict[str, Any]:
    n, concurrency = args.requests, args.concurrency
    chosen = args.kinds.split(",") if args.kinds else [k.name for k in KINDS]
    kinds = [k for k in KINDS if k.name in chosen]
    if "approve (cancels)" in chosen and "cancel" not in chosen:
        raise SystemExit("the approving click needs the requests `cancel` opens: add cancel")
    pool = 2 * (args.warmup + args.rounds * n) + 1
    with tempfile.TemporaryDirectory() as tmp:
        async with contextlib.AsyncExitStack() as stack:
            world, cancellable, watched = _world(pool if "cancel" in chosen else 0, args.watches)
            sim = await stack.enter_async_context(running_simulator(world, token=SIM_TOKEN))
            slack = await stack.enter_async_context(FakeSlack())
            slack.usergroups = {"S0SRELEADS": [LEAD]}
            db = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
            if args.in_process:
                ours = app_here(serve_ours, sim.url, sim.project_id, slack.api_url, db)
                bare = app_here(serve_bare, slack.api_url)
            else:
                ours_args = ["ours", sim.url, sim.project_id, slack.api_url, db]
                ours = app_process(ours_args, Path(tmp) / "ours.log")
                bare = app_process(["bare", slack.api_url], Path(tmp) / "bare.log")
            urls = {
                "ours": await stack.enter_async_context(ours) + "/slack/events",
                "bare": await stack.enter_async_context(bare) + "/slack/events",
            }
            # aiohttp, not httpx, as the load generator: httpx's connection pool becomes the
            # bottleneck at ~50 concurrent requests (190 req/s against a bare Bolt app that
            # serves 2500+ req/s to aiohttp), which would hide the apps' own cost.
            http = await stack.enter_async_context(
                aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=concurrency),
                    timeout=aiohttp.ClientTimeout(total=30),
                )
            )
            bench = Bench(slack, cancellable)
            expected = {k: FOLLOW_UPS[k](slack) for k in FOLLOW_UPS}

            # A real pending request for the outsider to click on.
            body = bench.command(f"cancel prod-eu {WF_FAILED} bench")
            await blast(http, urls["ours"], [body], 1, "open")
            expected["response_url"] += 1
            await drained(bench, expected)
            bench.collect_opened()
            bench.outsider_target = bench.opened.pop()

            async def one_run(kind: Kind, app: str, count: int, name: str) -> Result:
                bodies = [kind.make(bench, app) for _ in range(count)]
                began = time.perf_counter()
                result = await blast(http, urls[app], bodies, concurrency, name)
                if app == "ours":  # our follow-up ends before the next run
                    for n, key in enumerate(kind.follow_ups):
                        expected[key] += count
                        await drained(bench, expected)
                        if n == 0:
                            result.done = time.perf_counter() - began
                    if kind.after is not None:
                        kind.after(bench)
                return result

            # Watches the bot polls all along, five to a cluster, a task running in each (the
            # 2 s cadence): `watcher.tick` has work while the requests are measured.
            for cluster_id, workflow_id in watched:
                await blast(
                    http,
                    urls["ours"],
                    [bench.command(f"watch {cluster_id} {workflow_id}")],
                    1,
                    "watch",
                )
            expected["response_url"] += len(watched)
            await drained(bench, expected)

            for kind in kinds:  # warm-up: both apps, every path
                for app in ("bare", "ours"):
                    await one_run(kind, app, args.warmup, "w")

            print(
                f"{n} requests per kind, concurrency {concurrency}, {args.rounds} rounds, "
                f"apps {'in this process' if args.in_process else 'in subprocesses'}, the bot's "
                f"scheduler on with {len(watched)} watches polled all along, {os.cpu_count()} CPUs"
            )
            rounds = Rounds()
            for round_no in range(args.rounds):
                order = ("bare", "ours") if round_no % 2 == 0 else ("ours", "bare")
                for kind in kinds:
                    for app in order:
                        result = await one_run(kind, app, n, f"{app}  {kind.name}")
                        rounds.add(round_no, app, kind.name, result)
                        if result.done is not None:
                            rounds.answered(kind.name, result.done)
            assert sim.world.phase(WF_FAILED) != "Cancel"
            opened = slack.calls_to("views.open")
            refused = sorted({str(c.error) for c in opened if not c.ok})
            # Trigger ids are issued as the bodies are built, before a run: at concurrency 1 the
            # last of 200 can be used ~3 s after issue, which Slack's clock would call late.
            print(
                f"modals: {sum(c.ok for c in opened)} of {len(opened)} opened"
                + (f" (refused: {', '.join(refused)})" if refused else "")
            )
            figures = rounds.report([k.name for k in kinds], concurrency)
            figures["cancels_sent"] = sum(1 for c in sim.world.calls if c.method == "PATCH")
        for name in ("ours", "bare"):
            text = (Path(tmp) / f"{name}.log").read_text(errors="replace")
            skipped = text.count("maximum number of running instances")
            print(f"{name}'s log: {text.count('Traceback')} tracebacks, {skipped} ticks skipped")
        return figures


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        asyncio.run(serve_main(sys.argv[2:]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5, help="passes over all scenarios (ABBA)")
    parser.add_argument("--in-process", action="store_true", help="run both apps in this process")
    parser.add_argument("--kinds", help="comma-separated kind names (default: all, see KINDS)")
    parser.add_argument("--watches", type=int, default=50, help="watches polled all along")
    parser.add_argument("--json", help="write the figures here (for bench/report.py)")
    args = parser.parse_args()
    figures = asyncio.run(run(args))
    if args.json:
        figures = {"benchmark": "ack_latency", "args": vars(args) | {"json": None}, **figures}
        Path(args.json).write_text(json.dumps(figures, indent=1), encoding="utf-8")


if __name__ == "__main__":
    os.environ.setdefault("SKIP_SLACK_SDK_WARNING", "1")
    main()
