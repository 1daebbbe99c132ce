"""How the watcher scales with the number of open watches: bot CPU, memory, API and Slack calls.

For each N it starts, on loopback only:

* the simulator in a subprocess: the default world plus N running workflows whose scripted steps
  never fire on their own (`step_seconds` = 1e9), and a small control server next to it that
  counts API requests and advances given workflows on request (recording the wall-clock time);
* the Slack stand-in (`FakeSlack`) in this process;
* the bot in a subprocess: `create_app(stack_config(...))` served by `serve_bot(scheduler=True)`,
  so APScheduler drives `watcher.tick` as in production, SQLite in a temp dir, production retry
  policy and INFO logging. It opens N watches the way `/cce-upgrade watch` does (read the workflow,
  post the root message, `watcher.start`), paced over whole intervals so that polls are spread
  evenly (`--schedule burst` opens them all at once instead).

Then, after one warm-up interval:

* quiet phase (`--duration` s, nothing changes): bot CPU as a share of one core (utime+stime from
  /proc/<pid>/stat), API requests the simulator got per interval, chat.* calls at the stand-in
  (must be 0);
* changing phase: `--changes` workflows advanced one step at random times over one interval;
  the delay from each advance to the stand-in recording the chat.postMessage in its thread;
* peak RSS of the bot (VmHWM from /proc/<pid>/status) over the whole run;
* baseline: a bare `httpx.AsyncClient` loop in its own process GETting each of the N workflows
  once per interval with the same concurrency (no DB, no Slack, no parsing), over `--duration` s.

    python bench/watch_scaling.py [--watches 100,1000,5000] [--interval 10] [--duration 60]

One line per N; the last line gives bot CPU / baseline CPU and the target check (1,000 watches:
under 25 % of one core and under 200 MiB).
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
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

CHANNEL = "C0BENCH"
STAGING = "3f6c2a9e-1b7d-4c1e-9a2f-5d8e7b6a4c02"
NEVER = 1e9  # simulator step_seconds: scripted steps never fire on their own
TARGET_N, TARGET_CPU, TARGET_MIB = 1000, 25.0, 200.0
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
    from bot.standin.stack import SIM_TOKEN

    world = default_world(step_seconds=NEVER)
    ids = world.add_running_workflows(STAGING, int(opts["n"]))
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
    interval = float(opts["interval"])
    sim = RunningSimulator(opts["sim_url"], World(opts["project_id"]), Faults())
    slack = cast(FakeSlack, SimpleNamespace(api_url=opts["slack_api_url"]))
    bot_yaml = {
        "clusters": {"staging-eu": {"cluster_id": STAGING}},
        "approvers": {"users": ["U0LEAD1"]},
        # The same cadence whatever the workflows do: this measures the cost per watch.
        "watch": {"interval": f"{interval:g}s", "fast_interval": f"{interval:g}s"},
        # 1,000-5,000 workflows every 10 s is 100-500 reads/s: above the default budget (20/s).
        "cce": {"max_requests_per_second": 1000},
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
        ids: list[str] = _read_json(opts["ids_file"])
        threads: dict[str, str] = {}
        limit = asyncio.Semaphore(bot.config.bot.watch.concurrency)
        cluster = await bot.parts.targets.cluster("staging-eu")

        async def open_watch(workflow_id: str) -> None:
            async with limit:  # what `/cce-upgrade watch` does, minus the slash command
                await bot.parts.watching.start("U0BENCH", CHANNEL, cluster, workflow_id)
                watch = await bot.store.watches.open_for(workflow_id, CHANNEL)
                assert watch is not None, workflow_id
                threads[workflow_id] = watch.thread_ts

        # Spread over whole intervals: watch i is first due at (i / N) of an interval, mod 1.
        window = 0.0 if opts["schedule"] == "burst" else float(opts["window"])
        started = time.monotonic()
        async with asyncio.TaskGroup() as group:
            for i, workflow_id in enumerate(ids):
                delay = started + window * i / len(ids) - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                group.create_task(open_watch(workflow_id))
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
    """Each workflow GET once per interval, same concurrency, plain httpx: no DB, no Slack."""
    import httpx

    from bot.standin.stack import SIM_TOKEN

    ids: list[str] = _read_json(opts["ids_file"])
    base = (
        f"{opts['sim_url']}/autopilot/v3/projects/{opts['project_id']}/clusters/{STAGING}"
        "/operation/upgradeworkflows/"
    )
    interval, concurrency = float(opts["interval"]), int(opts["concurrency"])
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)  # as the bot's
    async with httpx.AsyncClient(
        headers={"X-Auth-Token": SIM_TOKEN}, limits=limits, trust_env=False, timeout=15.0
    ) as http:
        limit = asyncio.Semaphore(concurrency)

        async def get(workflow_id: str) -> None:
            async with limit:
                response = await http.get(base + workflow_id)
                if response.status_code != 200:
                    raise RuntimeError(f"baseline GET answered {response.status_code}")

        async def loop() -> None:
            while True:
                cycle = time.monotonic()
                async with asyncio.TaskGroup() as group:
                    for workflow_id in ids:
                        group.create_task(get(workflow_id))
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


@dataclass
class Row:
    n: int
    setup_s: float
    cpu_quiet: float
    cpu_changing: float
    peak_mib: float
    calls_per_cycle: float
    cpu_ms_per_read: float
    baseline_ms_per_read: float
    slack_quiet: int
    delays: list[float]
    changes: int
    baseline_cpu: float
    ticks: int
    tick_max: float
    tick_p95: float
    skipped: int

    def pct(self, q: int) -> float:
        if len(self.delays) < 2:
            return self.delays[0] if self.delays else float("nan")
        return statistics.quantiles(self.delays, n=100, method="inclusive")[q - 1]

    @property
    def ratio(self) -> float:
        return self.cpu_quiet / self.baseline_cpu if self.baseline_cpu else float("inf")

    @property
    def ratio_per_read(self) -> float:
        return self.cpu_ms_per_read / self.baseline_ms_per_read

    def line(self) -> str:
        return (
            f"N={self.n:<5} bot CPU {self.cpu_quiet:5.1f}% quiet, {self.cpu_changing:5.1f}% "
            f"changing | peak RSS {self.peak_mib:6.1f} MiB | API calls/cycle "
            f"{self.calls_per_cycle:7.1f} ({self.cpu_ms_per_read:.2f} CPU ms each) | "
            f"Slack chat.* calls quiet {self.slack_quiet} | "
            f"delay p50 {self.pct(50):4.1f}s p95 {self.pct(95):4.1f}s "
            f"({len(self.delays)}/{self.changes} posted) | baseline CPU {self.baseline_cpu:5.1f}% "
            f"({self.baseline_ms_per_read:.2f} ms/read) | ratio {self.ratio:.1f}x, per read "
            f"{self.ratio_per_read:.1f}x | ticks {self.ticks} (p95 {self.tick_p95:.2f}s, max "
            f"{self.tick_max:.2f}s, {self.skipped} skipped) | setup {self.setup_s:.0f}s"
        )


async def _cpu_share(child: Child, seconds: float) -> float:
    """% of one core used by `child` over the next `seconds`."""
    cpu0, wall0 = child.cpu_seconds(), time.monotonic()
    await asyncio.sleep(seconds)
    return 100 * (child.cpu_seconds() - cpu0) / (time.monotonic() - wall0)


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
            sim = await spawn("sim", {"n": n, "ids_file": str(ids_file)}, workdir, 60)
            children.append(sim)
            # Setup costs some ms per watch; pace it over whole intervals so polls spread evenly.
            window = interval * max(1, -(-n * 0.012 // interval))
            bot_opts = {
                "sim_url": sim.ready["url"],
                "project_id": sim.ready["project_id"],
                "slack_api_url": slack.api_url,
                "database_url": f"sqlite+aiosqlite:///{db}",
                "interval": interval,
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
            await asyncio.sleep(interval + 1)  # every watch polled once: steady state

            # Quiet: nothing changes in the simulator.
            control = sim.ready["control"]
            calls0 = (await http.get(f"{control}/stats")).json()["calls"]
            quiet0 = time.time()
            cpu_quiet = await _cpu_share(bot, args.duration)
            quiet1 = time.time()
            calls1 = (await http.get(f"{control}/stats")).json()["calls"]
            slack_quiet = sum(
                1 for c in slack.calls if c.method.startswith("chat.") and quiet0 <= c.at <= quiet1
            )

            # Changing: advance some workflows one step each, at random times over one interval.
            rng = random.Random(n)
            changed = rng.sample(sorted(threads), min(args.changes, len(threads)))
            offsets = sorted(rng.uniform(0, interval) for _ in changed)
            advanced: dict[str, float] = {}
            cpu0, wall0 = bot.cpu_seconds(), time.monotonic()
            for workflow_id, offset in zip(changed, offsets, strict=True):
                await asyncio.sleep(max(0.0, wall0 + offset - time.monotonic()))
                reply = await http.post(f"{control}/advance", json={"ids": [workflow_id]})
                advanced[workflow_id] = reply.json()["at"]
            deadline = time.monotonic() + 2 * interval + 5
            by_thread = {threads[w]: w for w in advanced}
            delays: dict[str, float] = {}
            while time.monotonic() < deadline and len(delays) < len(advanced):
                await asyncio.sleep(0.5)
                for call in slack.calls_to("chat.postMessage"):
                    workflow_id = by_thread.get(str(call.params.get("thread_ts")), "")
                    at = advanced.get(workflow_id)
                    if at is not None and workflow_id not in delays and call.at >= at:
                        delays[workflow_id] = call.at - at  # the first reply after the change
            cpu_changing = 100 * (bot.cpu_seconds() - cpu0) / (time.monotonic() - wall0)
            peak_mib = bot.status_kib("VmHWM") / 1024
            await bot.stop()
            ticks = [t for t in _read_json(ticks_file) if quiet0 <= t[0] <= quiet1]
            log = bot.log.read_text(errors="replace").split("bench.stopping")[0]
            skipped = log.count("maximum number of running instances reached")
            if "Traceback" in log:
                tail = "\n".join(log.splitlines()[-20:])
                print(f"warning: the bot logged a traceback for N={n}:\n{tail}", flush=True)

            # Baseline: the same reads, bare, in their own process, against the same simulator.
            base = await spawn(
                "baseline",
                {
                    "sim_url": sim.ready["url"],
                    "project_id": sim.ready["project_id"],
                    "ids_file": str(ids_file),
                    "interval": interval,
                    "concurrency": 20,
                },
                workdir,
                30,
            )
            children.append(base)
            await asyncio.sleep(interval)
            calls2 = (await http.get(f"{control}/stats")).json()["calls"]
            base0 = time.time()
            baseline_cpu = await _cpu_share(base, args.duration)
            base1 = time.time()
            calls3 = (await http.get(f"{control}/stats")).json()["calls"]
            durations = sorted(t[1] for t in ticks)
            return Row(
                n=n,
                setup_s=float(bot.ready["setup_seconds"]),
                cpu_quiet=cpu_quiet,
                cpu_changing=cpu_changing,
                peak_mib=peak_mib,
                calls_per_cycle=(calls1 - calls0) / ((quiet1 - quiet0) / interval),
                cpu_ms_per_read=10 * cpu_quiet * (quiet1 - quiet0) / max(calls1 - calls0, 1),
                baseline_ms_per_read=10 * baseline_cpu * (base1 - base0) / max(calls3 - calls2, 1),
                slack_quiet=slack_quiet,
                delays=sorted(delays.values()),
                changes=len(advanced),
                baseline_cpu=baseline_cpu,
                ticks=len(ticks),
                tick_max=durations[-1] if durations else 0.0,
                tick_p95=durations[int(0.95 * (len(durations) - 1))] if durations else 0.0,
                skipped=skipped,
            )
    finally:
        for child in reversed(children):
            await child.stop()
        await http.aclose()


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
        f"watch scaling: interval {args.interval:g} s, duration {args.duration:g} s, "
        f"{args.changes} changes, schedule {args.schedule}; {os.cpu_count()} CPUs, "
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
    ratios = ", ".join(f"N={r.n} {r.ratio:.1f}x ({r.ratio_per_read:.1f}x per read)" for r in rows)
    at_target = next((r for r in rows if r.n == TARGET_N), None)
    if at_target is None:
        target = f"target not checked ({TARGET_N} not in --watches)"
    else:
        cpu_ok, mem_ok = at_target.cpu_quiet < TARGET_CPU, at_target.peak_mib < TARGET_MIB
        target = (
            f"target @{TARGET_N} watches: CPU {at_target.cpu_quiet:.1f}% < {TARGET_CPU:g}% "
            f"{'PASS' if cpu_ok else 'FAIL'}, peak RSS {at_target.peak_mib:.0f} MiB < "
            f"{TARGET_MIB:g} MiB {'PASS' if mem_ok else 'FAIL'}"
        )
    print(f"ratio bot CPU / bare-loop CPU (quiet): {ratios}; {target}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--watches", default="100,1000,5000", help="comma-separated N values")
    parser.add_argument("--interval", type=float, default=10.0, help="watch.interval, seconds")
    parser.add_argument("--duration", type=float, default=60.0, help="quiet phase, seconds")
    parser.add_argument("--changes", type=int, default=100, help="workflows advanced per N")
    parser.add_argument("--schedule", choices=("spread", "burst"), default="spread")
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
