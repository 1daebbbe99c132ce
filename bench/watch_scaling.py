"""How the watcher scales with the number of open watches: bot CPU, memory, API and Slack calls.

For each N it starts, on loopback only:

* the simulator in a subprocess: the default world plus N workflows spread over `--clusters`
  clusters, each idle (PreCheck done, nothing running, the rest of the upgrade scripted but never
  played on its own: `step_seconds` = 1e9), and a small control server next to it that counts API
  requests and advances given workflows one step on request (recording the wall-clock time);
* the Slack stand-in (`FakeSlack`) in this process;
* the bot in a subprocess: `create_app(stack_config(...))` served by `serve_bot(scheduler=True)`,
  so APScheduler drives `watcher.tick` (and the housekeeping job) as in production, SQLite in a
  temp dir, production retry policy and INFO logging, `watch.interval` `--interval` and
  `watch.fast_interval` `--fast-interval`. It opens N watches the way `/cce-upgrade watch` does
  (read the workflow, post the root message, `watcher.start`), paced over whole intervals so that
  polls are spread evenly (`--schedule burst` opens them all at once instead).

Then, after one warm-up interval:

* quiet phase (`--duration` s, nothing changes, no task runs: the `watch.interval` cadence):
  bot CPU as a share of one core (utime+stime from /proc/<pid>/stat), API requests the simulator
  got per interval, chat.* calls at the stand-in (must be 0);
* start phase: a task starts in `--changes` workflows (spread over the clusters) at random times
  over one interval; the delay from each advance to the stand-in recording the chat.postMessage
  in its thread (seen at the slow cadence, since nothing ran before);
* running phase: while those tasks run (the `watch.fast_interval` cadence), each finishes at a
  random time over one interval: the delay to its thread post (the "change → thread post" figure),
  bot CPU and API requests per interval meanwhile;
* peak RSS of the bot (VmHWM from /proc/<pid>/status) over the whole run;
* baselines, each in its own process over `--duration` s: a bare polling loop GETting each of
  the N workflows once per interval with the watcher's concurrency (no DB, no Slack, no parsing),
  once on the bot's own transport (`bot.cce.transport.http_client`: httpx on aiohttp's pool) and
  once on httpx's default pool (what a naive poller would use).

    python bench/watch_scaling.py [--watches 1000] [--clusters 20] [--interval 10]
                                  [--fast-interval 2] [--duration 30] [--json PATH]

One line per N; then bot CPU / baseline CPU (same transport first) and the target checks at
1,000 watches (API requests per 10 s <= 25, CPU <= 2 %, 0 Slack calls when nothing changes,
change -> thread post p95 <= 3 s and p50 <= 1.5 s while tasks run, RSS < 200 MiB). `--json`
writes the figures for `bench/report.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

CHANNEL = "C0BENCH"
NEVER = 1e9  # simulator step_seconds: scripted steps never fire on their own
TARGET_N, TARGET_CPU, TARGET_MIB = 1000, 2.0, 200.0
TARGET_CALLS, TARGET_P95, TARGET_P50 = 25.0, 3.0, 1.5  # per 10 s; seconds
CLK_TCK = os.sysconf("SC_CLK_TCK")
_CLEARED = ("SLACK_", "CLOUD_SDK_", "HUAWEICLOUD_", "CCE_", "BOT_", "DATABASE_URL")


def _read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _write_json(path: str | Path, value: Any) -> None:
    Path(path).write_text(json.dumps(value), encoding="utf-8")


# -- children ---------------------------------------------------------------------------------


def _die_with_parent() -> None:
    """Linux: SIGTERM this child if the benchmark process dies without cleaning up."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


async def _until_terminated() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def _ready(**values: Any) -> None:
    print("READY " + json.dumps(values), flush=True)


async def sim_child(opts: dict[str, Any]) -> None:
    """The simulator with N running workflows, plus a control server to count and advance."""
    from aiohttp import web

    from bot.simulator import default_world, running_simulator
    from bot.simulator.state import running_script
    from bot.standin.stack import SIM_TOKEN

    world = default_world(step_seconds=NEVER)
    clusters = [
        world.add_cluster(str(uuid.uuid4()), name=f"bench-{i}")
        for i in range(int(opts["clusters"]))
    ]
    idle = [("PreCheck", "Success"), ("Snapshot", None), ("Cluster", None), ("PostCheck", None)]
    ids = [
        (cluster, world.add_workflow(cluster, points=idle, script=running_script(2)))
        for i in range(int(opts["n"]))
        for cluster in [clusters[i % len(clusters)]]
    ]
    _write_json(opts["ids_file"], ids)
    total = 0

    def drain() -> int:
        nonlocal total
        total += len(world.calls)
        world.calls.clear()  # it keeps every request's headers and body: don't let it grow
        return total

    async def drain_often() -> None:
        while True:
            await asyncio.sleep(1)
            drain()

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({"calls": drain()})

    async def advance(request: web.Request) -> web.Response:
        body = await request.json()
        at = time.time()
        for workflow_id in body["ids"]:
            world.advance(workflow_id)
        return web.json_response({"at": at})

    control = web.Application()
    control.router.add_get("/stats", stats)
    control.router.add_post("/advance", advance)
    runner = web.AppRunner(control, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        async with running_simulator(world, token=SIM_TOKEN) as sim:
            drainer = asyncio.create_task(drain_often())
            _ready(url=sim.url, control=f"http://{host}:{port}", project_id=sim.project_id)
            await _until_terminated()
            drainer.cancel()
    finally:
        await runner.cleanup()


async def bot_child(opts: dict[str, Any]) -> None:
    """The bot, served with its scheduler; opens N watches, records each tick, until SIGTERM."""
    from bot.app import create_app
    from bot.logs import configure_logging
    from bot.simulator import Faults, RunningSimulator, World
    from bot.standin.slack_api import FakeSlack
    from bot.standin.stack import SIGNING_SECRET, SIM_TOKEN, serve_bot, stack_config

    configure_logging("INFO", "console", [SIGNING_SECRET, SIM_TOKEN, "xoxb-standin"])
    interval, fast = float(opts["interval"]), float(opts["fast_interval"])
    sim = RunningSimulator(opts["sim_url"], World(opts["project_id"]), Faults())
    slack = cast(FakeSlack, SimpleNamespace(api_url=opts["slack_api_url"]))
    bot_yaml = {
        "approvers": {"users": ["U0LEAD1"]},  # clusters by raw id, in the default project
        "watch": {"interval": f"{interval:g}s", "fast_interval": f"{fast:g}s"},
        "cce": {"max_requests_per_second": float(opts["budget"])},
    }
    bot = create_app(stack_config(sim, slack, opts["database_url"], bot_yaml))

    ticks: list[tuple[float, float, int]] = []  # (wall start, seconds, watches polled)
    tick = bot.watcher.tick

    async def timed_tick() -> int:
        wall, started = time.time(), time.perf_counter()
        polled = await tick()
        ticks.append((wall, time.perf_counter() - started, polled))
        return polled

    bot.watcher.tick = timed_tick  # type: ignore[method-assign]  # the scheduler job is this
    server = await serve_bot(bot, scheduler=True)
    try:
        ids: list[tuple[str, str]] = _read_json(opts["ids_file"])
        threads: dict[str, str] = {}
        limit = asyncio.Semaphore(bot.config.bot.watch.concurrency)
        clusters: dict[str, Any] = {}  # cluster id -> the FoundCluster a command would resolve

        async def open_watch(cluster_id: str, workflow_id: str) -> None:
            async with limit:  # what `/cce-upgrade watch` does, minus the slash command
                found = clusters.get(cluster_id) or await bot.parts.targets.cluster(cluster_id)
                clusters[cluster_id] = found
                await bot.parts.watching.start("U0BENCH", CHANNEL, found, workflow_id)
                watch = await bot.store.watches.open_for(workflow_id, CHANNEL)
                assert watch is not None, workflow_id
                threads[workflow_id] = watch.thread_ts

        # Spread over whole intervals: watch i is first due at (i / N) of an interval, mod 1.
        window = 0.0 if opts["schedule"] == "burst" else float(opts["window"])
        started = time.monotonic()
        async with asyncio.TaskGroup() as group:
            for i, (cluster_id, workflow_id) in enumerate(ids):
                delay = started + window * i / len(ids) - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                group.create_task(open_watch(cluster_id, workflow_id))
        _write_json(opts["threads_file"], threads)
        _ready(url=server.url, setup_seconds=round(time.monotonic() - started, 1))
        profiler = None
        if opts.get("profile"):  # steady state only (quiet + changing phases), not the setup
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        await _until_terminated()
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(opts["profile"])
    finally:
        _write_json(opts["ticks_file"], ticks)
        print("bench.stopping", file=sys.stderr, flush=True)  # what follows is shutdown
        await server.stop()


async def baseline_child(opts: dict[str, Any]) -> None:
    """Each workflow GET once per interval, same concurrency: no DB, no Slack, no parsing.

    `transport` "bot": the bot's own client (`http_client`: httpx on aiohttp's pool, the same
    pool limits); "httpx": `httpx.AsyncClient` on its default pool (httpcore).
    """
    import httpx

    from bot.cce.transport import http_client
    from bot.standin.stack import SIM_TOKEN

    ids: list[tuple[str, str]] = _read_json(opts["ids_file"])
    base = f"{opts['sim_url']}/autopilot/v3/projects/{opts['project_id']}/clusters/"
    urls = [f"{base}{c}/operation/upgradeworkflows/{w}" for c, w in ids]
    interval, concurrency = float(opts["interval"]), int(opts["concurrency"])
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)  # as the bot's
    if opts["transport"] == "bot":
        http = http_client(None, limits=limits)
    else:
        http = httpx.AsyncClient(limits=limits, trust_env=False, timeout=15.0)
    http.headers["X-Auth-Token"] = SIM_TOKEN
    async with http:
        limit = asyncio.Semaphore(concurrency)

        async def get(url: str) -> None:
            async with limit:
                response = await http.get(url)
                if response.status_code != 200:
                    raise RuntimeError(f"baseline GET answered {response.status_code}")

        async def loop() -> None:
            while True:
                cycle = time.monotonic()
                async with asyncio.TaskGroup() as group:
                    for url in urls:
                        group.create_task(get(url))
                await asyncio.sleep(max(0.0, cycle + interval - time.monotonic()))

        runner = asyncio.create_task(loop())
        _ready()
        await _until_terminated()
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner


CHILDREN = {"sim": sim_child, "bot": bot_child, "baseline": baseline_child}


# -- the parent -------------------------------------------------------------------------------


@dataclass
class Child:
    name: str
    proc: asyncio.subprocess.Process
    log: Path
    ready: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu_seconds(self) -> float:
        """utime + stime of the whole process (all its threads), from /proc/<pid>/stat."""
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def status_kib(self, key: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        return 0

    async def stop(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                await self.proc.wait()

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


async def spawn(name: str, opts: dict[str, Any], workdir: Path, within: float) -> Child:
    log = workdir / f"{name}.log"
    env = {**os.environ, "SKIP_SLACK_SDK_WARNING": "1"}
    for key in list(env):  # no developer settings or proxies leak into the children
        if key.startswith(_CLEARED) or key.lower() in ("http_proxy", "https_proxy", "all_proxy"):
            del env[key]
    with log.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--child",
            name,
            "--child-opts",
            json.dumps(opts),
            stdout=asyncio.subprocess.PIPE,
            stderr=err,
            env=env,
            cwd=workdir,
        )
    child = Child(name, proc, log)
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), within)
    except TimeoutError:
        await child.stop()
        raise SystemExit(f"{name} did not get ready in {within:.0f} s:\n{child.tail()}") from None
    if not line.startswith(b"READY "):
        await child.stop()
        raise SystemExit(f"{name} failed to start:\n{child.tail()}")
    child.ready = json.loads(line[6:])
    return child


def _pct(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


@dataclass
class Baseline:
    transport: str  # "bot" (the bot's http_client) or "httpx" (httpx's default pool)
    cpu: float  # % of one core
    ms_per_read: float


@dataclass
class Row:
    n: int
    clusters: int
    setup_s: float
    cpu_quiet: float
    calls_quiet: float  # API requests per interval
    slack_quiet: int
    start_delays: list[float]  # idle -> a task running: seen at the slow cadence
    cpu_running: float
    calls_running: float
    fast_delays: list[float]  # a running task finishing: seen at the fast cadence
    changes: int
    peak_mib: float
    ticks: int
    tick_max: float
    skipped: int
    baselines: list[Baseline] = field(default_factory=list)

    def ratio(self, transport: str) -> float:
        base = next((b for b in self.baselines if b.transport == transport), None)
        return self.cpu_quiet / base.cpu if base and base.cpu else float("nan")

    def figures(self) -> dict[str, Any]:
        """What `--json` writes (and `bench/report.py` reads)."""
        return {
            "n": self.n,
            "clusters": self.clusters,
            "cpu_quiet": round(self.cpu_quiet, 2),
            "calls_quiet_per_interval": round(self.calls_quiet, 1),
            "slack_quiet": self.slack_quiet,
            "start_delay_p50": round(_pct(self.start_delays, 50), 2),
            "start_delay_p95": round(_pct(self.start_delays, 95), 2),
            "cpu_running": round(self.cpu_running, 2),
            "calls_running_per_interval": round(self.calls_running, 1),
            "delay_p50": round(_pct(self.fast_delays, 50), 2),
            "delay_p95": round(_pct(self.fast_delays, 95), 2),
            "posted": len(self.fast_delays),
            "changes": self.changes,
            "peak_mib": round(self.peak_mib, 1),
            "tick_max": round(self.tick_max, 3),
            "skipped": self.skipped,
            "baselines": {
                b.transport: {"cpu": round(b.cpu, 2), "ms_per_read": round(b.ms_per_read, 3)}
                for b in self.baselines
            },
            "ratio_same_transport": round(self.ratio("bot"), 2),
            "ratio_httpx_pool": round(self.ratio("httpx"), 2),
        }

    def line(self) -> str:
        bases = ", ".join(
            f"{b.transport} {b.cpu:.1f}% ({b.ms_per_read:.2f} ms/read, "
            f"ours {self.ratio(b.transport):.2f}x)"
            for b in self.baselines
        )
        return (
            f"N={self.n:<5} over {self.clusters} clusters | quiet: bot CPU {self.cpu_quiet:.1f}%, "
            f"API {self.calls_quiet:.1f}/interval, chat.* {self.slack_quiet} | task starts: "
            f"delay p50 {_pct(self.start_delays, 50):.1f}s p95 {_pct(self.start_delays, 95):.1f}s "
            f"({len(self.start_delays)}/{self.changes}) | tasks running: bot CPU "
            f"{self.cpu_running:.1f}%, API {self.calls_running:.1f}/interval, change -> post p50 "
            f"{_pct(self.fast_delays, 50):.2f}s p95 {_pct(self.fast_delays, 95):.2f}s "
            f"({len(self.fast_delays)}/{self.changes}) | peak RSS {self.peak_mib:.0f} MiB | ticks "
            f"{self.ticks} (max {self.tick_max:.2f}s, {self.skipped} skipped) | bare loop: {bases} "
            f"| setup {self.setup_s:.0f}s"
        )


async def _cpu_share(child: Child, seconds: float) -> float:
    """% of one core used by `child` over the next `seconds`."""
    cpu0, wall0 = child.cpu_seconds(), time.monotonic()
    await asyncio.sleep(seconds)
    return 100 * (child.cpu_seconds() - cpu0) / (time.monotonic() - wall0)


class Phases:
    """The parent's view of one run: the simulator's control server and the Slack stand-in."""

    def __init__(self, http: Any, control: str, slack: Any, threads: dict[str, str]) -> None:
        self.http, self.control, self.slack, self.threads = http, control, slack, threads

    async def calls(self) -> int:
        return int((await self.http.get(f"{self.control}/stats")).json()["calls"])

    async def advance_spread(
        self, ids: list[str], over: float, rng: random.Random
    ) -> dict[str, float]:
        """Advance each workflow one step at a random time within `over` s; when each was."""
        offsets = sorted(rng.uniform(0, over) for _ in ids)
        advanced: dict[str, float] = {}
        began = time.monotonic()
        for workflow_id, offset in zip(ids, offsets, strict=True):
            await asyncio.sleep(max(0.0, began + offset - time.monotonic()))
            reply = await self.http.post(f"{self.control}/advance", json={"ids": [workflow_id]})
            advanced[workflow_id] = reply.json()["at"]
        return advanced

    async def posted(self, advanced: dict[str, float], within: float) -> list[float]:
        """Wait (up to `within` s) for the first thread post after each advance; the delays."""
        deadline = time.monotonic() + within
        by_thread = {self.threads[w]: w for w in advanced}
        delays: dict[str, float] = {}
        while time.monotonic() < deadline and len(delays) < len(advanced):
            await asyncio.sleep(0.25)
            for call in self.slack.calls_to("chat.postMessage"):
                workflow_id = by_thread.get(str(call.params.get("thread_ts")), "")
                at = advanced.get(workflow_id)
                if at is not None and workflow_id not in delays and call.at >= at:
                    delays[workflow_id] = call.at - at
        return sorted(delays.values())


async def measure(n: int, args: argparse.Namespace, workdir: Path) -> Row:
    import httpx

    from bot.standin.slack_api import FakeSlack

    interval = args.interval
    ids_file, threads_file = workdir / f"ids-{n}.json", workdir / f"threads-{n}.json"
    ticks_file = workdir / f"ticks-{n}.json"
    db = workdir / f"bot-{n}.db"
    children: list[Child] = []
    http = httpx.AsyncClient(trust_env=False, timeout=30.0)
    try:
        async with FakeSlack() as slack:
            sim_opts = {"n": n, "clusters": args.clusters, "ids_file": str(ids_file)}
            sim = await spawn("sim", sim_opts, workdir, 60)
            children.append(sim)
            # Setup costs some ms per watch; pace it over whole intervals so polls spread evenly.
            window = interval * max(1, -(-n * 0.012 // interval))
            bot_opts = {
                "sim_url": sim.ready["url"],
                "project_id": sim.ready["project_id"],
                "slack_api_url": slack.api_url,
                "database_url": f"sqlite+aiosqlite:///{db}",
                "interval": interval,
                "fast_interval": args.fast_interval,
                "budget": args.budget,
                "ids_file": str(ids_file),
                "threads_file": str(threads_file),
                "ticks_file": str(ticks_file),
                "schedule": args.schedule,
                "window": window,
                "profile": f"{args.profile}-{n}.prof" if args.profile else "",
            }
            bot = await spawn("bot", bot_opts, workdir, window + 30 + n * 0.05)
            children.append(bot)
            threads: dict[str, str] = _read_json(threads_file)
            phases = Phases(http, sim.ready["control"], slack, threads)
            await asyncio.sleep(interval + 1)  # every watch polled once: steady state

            # Quiet: nothing changes and nothing runs (the slow cadence).
            calls0, quiet0 = await phases.calls(), time.time()
            cpu_quiet = await _cpu_share(bot, args.duration)
            quiet1, calls1 = time.time(), await phases.calls()
            slack_quiet = sum(
                1 for c in slack.calls if c.method.startswith("chat.") and quiet0 <= c.at <= quiet1
            )

            # A task starts in some workflows (seen at the slow cadence), spread over clusters.
            rng = random.Random(n)
            ids: list[tuple[str, str]] = _read_json(ids_file)
            step = max(1, len(ids) // max(1, args.changes))
            changed = [w for _, w in ids[::step][: args.changes]]
            rng.shuffle(changed)
            started = await phases.advance_spread(changed, interval, rng)
            start_delays = await phases.posted(started, 2 * interval + 5)
            await asyncio.sleep(args.fast_interval + 1)  # each is on the fast cadence now

            # While those tasks run: each finishes at a random time over one interval.
            calls2, cpu0, wall0 = await phases.calls(), bot.cpu_seconds(), time.monotonic()
            finished = await phases.advance_spread(changed, interval, rng)
            fast_delays = await phases.posted(finished, 2 * interval + 5)
            wall1 = time.monotonic()
            cpu_running = 100 * (bot.cpu_seconds() - cpu0) / (wall1 - wall0)
            calls_running = (await phases.calls() - calls2) / ((wall1 - wall0) / interval)
            peak_mib = bot.status_kib("VmHWM") / 1024
            await bot.stop()
            ticks = [t for t in _read_json(ticks_file) if quiet0 <= t[0] <= quiet1]
            log = bot.log.read_text(errors="replace").split("bench.stopping")[0]
            skipped = log.count("maximum number of running instances reached")
            if "Traceback" in log:
                tail = "\n".join(log.splitlines()[-20:])
                print(f"warning: the bot logged a traceback for N={n}:\n{tail}", flush=True)

            baselines = []
            for transport in ("bot", "httpx"):
                baselines.append(await _baseline(transport, sim, ids_file, args, workdir, phases))
            return Row(
                n=n,
                clusters=args.clusters,
                setup_s=float(bot.ready["setup_seconds"]),
                cpu_quiet=cpu_quiet,
                calls_quiet=(calls1 - calls0) / ((quiet1 - quiet0) / interval),
                slack_quiet=slack_quiet,
                start_delays=start_delays,
                cpu_running=cpu_running,
                calls_running=calls_running,
                fast_delays=fast_delays,
                changes=len(changed),
                peak_mib=peak_mib,
                ticks=len(ticks),
                tick_max=max((t[1] for t in ticks), default=0.0),
                skipped=skipped,
                baselines=baselines,
            )
    finally:
        for child in reversed(children):
            await child.stop()
        await http.aclose()


async def _baseline(
    transport: str,
    sim: Child,
    ids_file: Path,
    args: argparse.Namespace,
    workdir: Path,
    phases: Phases,
) -> Baseline:
    """The same N reads per interval, bare, in their own process, against the same simulator."""
    opts = {
        "sim_url": sim.ready["url"],
        "project_id": sim.ready["project_id"],
        "ids_file": str(ids_file),
        "interval": args.interval,
        "concurrency": 20,  # the watcher's
        "transport": transport,
    }
    base = await spawn("baseline", opts, workdir, 30)
    try:
        await asyncio.sleep(args.interval)
        calls0, wall0 = await phases.calls(), time.time()
        cpu = await _cpu_share(base, args.duration)
        wall1, calls1 = time.time(), await phases.calls()
    finally:
        await base.stop()
    return Baseline(transport, cpu, 10 * cpu * (wall1 - wall0) / max(calls1 - calls0, 1))


def _print_profile(path: str, top: int = 25) -> None:
    import pstats

    if not Path(path).exists():
        print(f"(no profile at {path})")
        return
    print(f"cProfile of the bot in steady state, {path}, top {top} by own time:")
    pstats.Stats(path, stream=sys.stdout).strip_dirs().sort_stats("tottime").print_stats(top)


async def parent(args: argparse.Namespace) -> None:
    sizes = [int(x) for x in args.watches.split(",") if x.strip()]
    print(
        f"watch scaling: interval {args.interval:g} s, fast interval {args.fast_interval:g} s, "
        f"duration {args.duration:g} s, {args.changes} changes, {args.clusters} clusters, budget "
        f"{args.budget:g}/s, schedule {args.schedule}; {os.cpu_count()} CPUs, "
        f"Python {sys.version.split()[0]}",
        flush=True,
    )
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="watch-scaling-") as tmp:
        for n in sizes:
            row = await measure(n, args, Path(tmp))
            rows.append(row)
            print(row.line(), flush=True)
            if args.profile:
                _print_profile(f"{args.profile}-{n}.prof")
    ratios = ", ".join(
        f"N={r.n} {r.ratio('bot'):.2f}x on the bot's transport, {r.ratio('httpx'):.2f}x against "
        "httpx's default pool"
        for r in rows
    )
    print(f"ratio bot CPU / bare-loop CPU (quiet): {ratios}", flush=True)
    at = next((r for r in rows if r.n == TARGET_N), None)
    checks: dict[str, bool] = {}
    if at is None:
        print(f"targets not checked ({TARGET_N} not in --watches)")
    else:
        per10 = 10 / args.interval
        checks = {
            f"API requests per 10 s {at.calls_quiet * per10:.1f} <= {TARGET_CALLS:g}": (
                at.calls_quiet * per10 <= TARGET_CALLS
            ),
            f"CPU {at.cpu_quiet:.1f}% <= {TARGET_CPU:g}%": at.cpu_quiet <= TARGET_CPU,
            f"Slack calls when quiet {at.slack_quiet} == 0": at.slack_quiet == 0,
            f"change -> post p95 {_pct(at.fast_delays, 95):.2f}s <= {TARGET_P95:g}s": (
                _pct(at.fast_delays, 95) <= TARGET_P95 and len(at.fast_delays) == at.changes
            ),
            f"p50 {_pct(at.fast_delays, 50):.2f}s <= {TARGET_P50:g}s": (
                _pct(at.fast_delays, 50) <= TARGET_P50
            ),
            f"peak RSS {at.peak_mib:.0f} MiB < {TARGET_MIB:g} MiB": at.peak_mib < TARGET_MIB,
        }
        print(
            f"targets @{TARGET_N} watches: "
            + "; ".join(f"{k} {'PASS' if ok else 'FAIL'}" for k, ok in checks.items())
        )
    if args.json:
        _write_json(
            args.json,
            {
                "benchmark": "watch_scaling",
                "args": vars(args) | {"json": None},
                "rows": [r.figures() for r in rows],
                "targets": checks,
            },
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--watches", default="1000", help="comma-separated N values")
    parser.add_argument("--clusters", type=int, default=20, help="clusters the N are spread over")
    parser.add_argument("--interval", type=float, default=10.0, help="watch.interval, seconds")
    parser.add_argument("--fast-interval", type=float, default=2.0, help="watch.fast_interval")
    parser.add_argument("--duration", type=float, default=30.0, help="quiet phase, seconds")
    parser.add_argument("--changes", type=int, default=100, help="workflows changed per N")
    parser.add_argument(
        "--budget", type=float, default=1000.0, help="cce.max_requests_per_second (see README)"
    )
    parser.add_argument("--schedule", choices=("spread", "burst"), default="spread")
    parser.add_argument("--json", help="write the figures here (for bench/report.py)")
    parser.add_argument(
        "--profile",
        metavar="PREFIX",
        help="run the bot under cProfile (inflates its CPU); write PREFIX-<N>.prof, print a top",
    )
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--child-opts", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _die_with_parent()
        asyncio.run(CHILDREN[args.child](json.loads(args.child_opts)))
        return
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(parent(args))


if __name__ == "__main__":
    main()
