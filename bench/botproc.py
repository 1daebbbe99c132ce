"""The bot in a process of its own, for the benchmarks: `create_app(stack_config(...))` served by
`serve_bot(scheduler=True)` (APScheduler runs the housekeeping job and `watcher.tick`, as in
production), pointed at a simulator and a Slack stand-in that run in the benchmark's process.

    async with bot_process(sim, slack, db_url, bot_yaml) as url:   # url: …/slack/events
        ...

The child is this file run as a script (`python bench/botproc.py SIM PROJECT SLACK DB YAML`); it
prints its URL, serves until its stdin closes, then stops the bot. Its own CPU and event loop are
apart from the load generator's and the stand-ins'.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

SELF = str(Path(__file__).resolve())


async def serve_main(sim_url: str, project_id: str, slack_api: str, db: str, yaml: str) -> None:
    from bot.app import create_app
    from bot.logs import configure_logging
    from bot.simulator import Faults, RunningSimulator, World
    from bot.standin.slack_api import FakeSlack
    from bot.standin.stack import SIGNING_SECRET, SIM_TOKEN, serve_bot, stack_config

    configure_logging("WARNING", "console", [SIGNING_SECRET, SIM_TOKEN, "xoxb-standin"])
    sim = RunningSimulator(sim_url, World(project_id), Faults())
    slack = cast(FakeSlack, SimpleNamespace(api_url=slack_api))
    config = stack_config(sim, slack, db, json.loads(yaml))
    server = await serve_bot(create_app(config), scheduler=True)
    print(f"URL {server.url}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # EOF: stop
    await server.stop()


@contextlib.asynccontextmanager
async def bot_process(
    sim: Any, slack: Any, db: str, bot_yaml: dict[str, Any], log: Path
) -> AsyncIterator[str]:
    """Run the bot against `sim` (a RunningSimulator) and `slack` (a FakeSlack), its log
    (WARNING and up) going to the file `log`; yields its Slack URL."""
    env = {**os.environ, "SKIP_SLACK_SDK_WARNING": "1"}
    args = [sim.url, sim.project_id, slack.api_url, db, json.dumps(bot_yaml)]
    with log.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            SELF,
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=err,
            env=env,
        )
    assert proc.stdout is not None and proc.stdin is not None
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        match = re.match(r"URL (\S+)", line)
        if match is None:  # a failed start: its log says why (a blocking read is fine here)
            tail = log.read_text(errors="replace")[-2000:]  # noqa: ASYNC240
            raise SystemExit(f"the bot did not start:\n{tail}")
        yield match.group(1) + "/slack/events"
    finally:
        proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            proc.kill()  # only the child this function started
            await proc.wait()


if __name__ == "__main__":
    os.environ.setdefault("SKIP_SLACK_SDK_WARNING", "1")
    asyncio.run(serve_main(*sys.argv[1:]))
