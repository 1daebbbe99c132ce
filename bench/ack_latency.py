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

Scenarios, each with N signed requests at the given concurrency, bare app first then ours:
`help` (answered in the ack), `status prod-eu <WF_FAILED>` (ack, then a GET and a
response_url post), a click on an approval id that does not exist, and an outsider's click on a
real pending request (ack, then store + approver lookup + a refusal). Nothing is cancelled.

    python bench/ack_latency.py [--requests 200] [--concurrency 50] [--warmup 50] [--in-process]

One line per scenario (p50/p99/max in ms, req/s); the last line is our p99 / bare p99 over all
scenarios at the given concurrency (target ≤ 1.2×).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot.blocks import APPROVE_ACTION_ID, REJECT_ACTION_ID
from bot.config import BotConfig, Config, Settings
from bot.simulator import running_simulator
from bot.standin.slack_api import FakeSlack
from bot.standin.slack_requests import block_actions_body, sign, slash_command_body
from bot.standin.stack import FAST_RETRY, SIGNING_SECRET, SIM_TOKEN

PROD = "3f6c2a9e-1b7d-4c1e-9a2f-5d8e7b6a4c01"
WF_FAILED = "8a1d4e2f-6b3c-4f7a-9e1d-2c5b8a7f3e01"
OUTSIDER, REQUESTER, CHANNEL = "U0OUTSIDER", "U0REQUEST1", "C0INCIDENT"
STANDIN_TOKEN = "xoxb-standin"  # noqa: S105  the stand-in accepts any xoxb- token
SELF = str(Path(__file__).resolve())
BOT_YAML: dict[str, Any] = {
    "clusters": {"prod-eu": {"cluster_id": PROD}},
    "approvers": {"users": ["U0LEAD1", "U0LEAD2"], "usergroups": ["S0SRELEADS"]},
}


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
    server = await serve_bot(create_app(config, retry=FAST_RETRY), scheduler=False)
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
async def app_process(args: list[str]) -> AsyncIterator[str]:
    env = {**os.environ, "SKIP_SLACK_SDK_WARNING": "1"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        SELF,
        "--serve",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
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

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result = Result(name, latencies, time.perf_counter() - began, statuses)
    assert statuses == {200: len(bodies)}, f"{name}: {statuses}"
    return result


async def drained(slack: FakeSlack, expected: int, timeout: float = 60.0) -> None:  # noqa: ASYNC109
    """Wait until the bot's follow-up work (its response_url posts) is done."""
    await slack.wait_for("response_url", count=expected, timeout=timeout)


async def run(args: argparse.Namespace) -> None:
    n, concurrency = args.requests, args.concurrency
    with tempfile.TemporaryDirectory() as tmp:
        async with contextlib.AsyncExitStack() as stack:
            sim = await stack.enter_async_context(running_simulator(token=SIM_TOKEN))
            slack = await stack.enter_async_context(FakeSlack())
            slack.usergroups = {"S0SRELEADS": ["U0LEAD1"]}
            db = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
            if args.in_process:
                ours = app_here(serve_ours, sim.url, sim.project_id, slack.api_url, db)
                bare = app_here(serve_bare, slack.api_url)
            else:
                ours = app_process(["ours", sim.url, sim.project_id, slack.api_url, db])
                bare = app_process(["bare", slack.api_url])
            ours_url = await stack.enter_async_context(ours) + "/slack/events"
            bare_url = await stack.enter_async_context(bare) + "/slack/events"
            # aiohttp, not httpx, as the load generator: httpx's connection pool becomes the
            # bottleneck at ~50 concurrent requests (190 req/s against a bare Bolt app that
            # serves 2500+ req/s to aiohttp), which would hide the apps' own cost.
            http = await stack.enter_async_context(
                aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=concurrency),
                    timeout=aiohttp.ClientTimeout(total=30),
                )
            )
            counter = iter(range(10**9))

            def command(text: str, user: str = REQUESTER) -> bytes:
                url = slack.response_url(f"c{next(counter)}")
                return slash_command_body(text, response_url=url, user_id=user)

            def click(approval_id: str, message_ts: str = "1700000000.000100") -> bytes:
                return block_actions_body(
                    action_id=APPROVE_ACTION_ID,
                    value=approval_id,
                    user_id=OUTSIDER,
                    channel_id=CHANNEL,
                    message_ts=message_ts,
                    response_url=slack.response_url(f"a{next(counter)}"),
                )

            # A real pending request for the outsider to click on.
            await blast(http, ours_url, [command(f"cancel prod-eu {WF_FAILED} bench")], 1, "open")
            await drained(slack, 1)
            answer = str(slack.responses[-1].get("text"))
            found = re.search(r"req-[0-9a-f]+", answer)
            assert found, f"no request was opened: {answer}"
            approval_id = found.group(0)
            [posted] = [m for m in slack.messages.values() if m.thread_ts is None]

            scenarios: list[tuple[str, Callable[[], bytes], int]] = [
                ("help", lambda: command("help"), 0),
                ("status prod-eu", lambda: command(f"status prod-eu {WF_FAILED}"), 1),
                ("click unknown id", lambda: click("req-000000000000"), 1),
                ("click outsider, real req", lambda: click(approval_id, posted.ts), 1),
            ]
            expected = len(slack.responses)
            for _, make, posts in scenarios:  # warm-up: both apps, every path
                await blast(http, bare_url, [make() for _ in range(args.warmup)], concurrency, "w")
                await blast(http, ours_url, [make() for _ in range(args.warmup)], concurrency, "w")
                expected += posts * args.warmup
                await drained(slack, expected)

            print(
                f"{n} requests per scenario, concurrency {concurrency}, "
                f"apps {'in this process' if args.in_process else 'in subprocesses'}, "
                f"{os.cpu_count()} CPUs"
            )
            all_bare: list[float] = []
            all_ours: list[float] = []
            for name, make, posts in scenarios:
                bodies = [make() for _ in range(n)]
                bare_result = await blast(http, bare_url, bodies, concurrency, f"bare  {name}")
                bodies = [make() for _ in range(n)]
                ours_result = await blast(http, ours_url, bodies, concurrency, f"ours  {name}")
                expected += posts * n
                await drained(slack, expected)  # our follow-up work ends before the next run
                print(bare_result.line())
                print(ours_result.line(bare_result))
                all_bare += bare_result.latencies
                all_ours += ours_result.latencies
            assert sim.world.phase(WF_FAILED) != "Cancel"
            total_bare = Result("bare", all_bare, 1.0, {})
            total_ours = Result("ours", all_ours, 1.0, {})
            print(
                f"p99 ours/bare at concurrency {concurrency}: "
                f"{total_ours.p99:.2f} ms / {total_bare.p99:.2f} ms = "
                f"{total_ours.p99 / total_bare.p99:.2f}x (target <= 1.2x)"
            )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        asyncio.run(serve_main(sys.argv[2:]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--in-process", action="store_true", help="run both apps in this process")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    os.environ.setdefault("SKIP_SLACK_SDK_WARNING", "1")
    main()
