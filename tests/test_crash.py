"""Crashes with a real process kill: the production CLI in a subprocess, SIGKILLed at every
durable step, with and without the history scopes.

The simulator and the Slack stand-in run in the test process on loopback; the bot runs as
`python -m bot run` with an environment built from scratch, the default lease, and a SQLite file
under tmp_path. Slack (or the API) is made to hold its answer to the step's call, the bot is
killed while it waits, and a new process is started on the same database. Each case checks that
the post appears once (or, without the scopes, once more, marked as a possible repeat), that at
most one cancel reached the API, and that the flow went on within 20 s of the restart: the test
measures that time. (tests/test_recovery.py covers the same steps through the rows a kill leaves.)
Set CRASH_TIMINGS=<file> to append each case's measured time as a JSON line.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
import yaml

from bot.simulator import (
    Call,
    Fault,
    Faults,
    RunningSimulator,
    World,
    build_world,
    default_scenario,
)
from bot.simulator import running_simulator as serve_simulator
from bot.slack.blocks import APPROVE_ACTION_ID
from bot.slack.delivery import REPEAT_NOTE
from bot.standin import FakeSlack, Message, block_actions_body, post_signed, slash_command_body
from bot.standin.stack import SIGNING_SECRET, SIM_TOKEN
from bot.store import ApprovalRecord, Store, WatchRecord, create_engine
from tests.e2e import (
    CHANNEL,
    LEAD1,
    REQUESTER,
    WF_FAILED,
    WF_RUNNING,
    approval_id_of,
    bot_yaml,
    requests_posted,
    text_of,
)

READY_WITHIN = 30.0
HANG = 120.0  # longer than the test: a held answer never arrives while we look
GOES_ON_WITHIN = 20.0  # SPEC §5a: after a kill the flow goes on within 20 s of the restart
HISTORY = "channels:history,groups:history"
Held = Callable[[str, dict[str, Any]], bool]


class CrashFaults(Faults):
    """The simulator's faults, plus one trap: the next request matching it hangs (before it is
    applied) or is held (applied, its answer held back)."""

    def __init__(self, world: World) -> None:
        super().__init__(hang_seconds=HANG)
        self.world = world
        self.trap: tuple[str, Callable[[Call], bool]] | None = None

    def take(self) -> Fault | None:
        # The request at hand was appended to world.calls just before take() is called.
        if self.trap is not None and self.world.calls and self.trap[1](self.world.calls[-1]):
            kind, self.trap = self.trap[0], None
            return Fault("hold" if kind == "hold" else "hang")
        return super().take()


class BotProcess:
    """`cce-upgrade-bot run` as a subprocess; `start` waits for /readyz, `kill` is SIGKILL."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.ops_url = ""
        self.runs = 0
        self._log: IO[bytes] | None = None

    async def start(self) -> None:
        self._spawn()
        await self._wait_ready()

    def _spawn(self) -> None:
        """Popen only forks and execs; the readiness wait is the async part."""
        assert self.proc is None, "already running"
        self.runs += 1
        port, ops_port = _free_port(), _free_port()
        while ops_port == port:
            ops_port = _free_port()
        self._log = (self.log_dir / f"bot-{self.runs}.stderr.log").open("wb")
        self.proc = subprocess.Popen(  # noqa: S603  our own CLI, fixed arguments
            [sys.executable, "-m", "bot", "run", "--host", "127.0.0.1", "--port", str(port)],
            env={**self.env, "OPS_PORT": str(ops_port)},
            cwd=self.log_dir,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
        )
        self.url = f"http://127.0.0.1:{port}"
        self.ops_url = f"http://127.0.0.1:{ops_port}"  # /readyz is there, never on the Slack port

    async def _wait_ready(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_WITHIN
        async with httpx.AsyncClient(trust_env=False, timeout=1.0) as client:
            while True:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise AssertionError(f"the bot exited ({self.proc.returncode}): {self.stderr}")
                try:
                    if (await client.get(self.ops_url + "/readyz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if loop.time() > deadline:
                    raise AssertionError(f"not ready within {READY_WITHIN} s: {self.stderr}")
                await asyncio.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL, and reap it; safe to call when it is not running."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def log(self, run: int) -> str:
        """What the `run`-th process (1 = the first) wrote to stderr."""
        return (self.log_dir / f"bot-{run}.stderr.log").read_text(errors="replace")

    @property
    def stderr(self) -> str:
        text = "\n".join(
            p.read_text(errors="replace") for p in sorted(self.log_dir.glob("bot-*.stderr.log"))
        )
        return text[-6000:]

    async def post(self, body: bytes) -> httpx.Response:
        return await post_signed(self.url + "/slack/events", body, SIGNING_SECRET)


@dataclass
class Crash:
    """One scenario's world: simulator, Slack stand-in, the bot process and its database."""

    sim: RunningSimulator
    faults: CrashFaults
    slack: FakeSlack
    bot: BotProcess
    history: bool
    label: str
    restarted_at: float = 0.0

    @property
    def db_url(self) -> str:
        return self.bot.env["DATABASE_URL"]

    def calls(self, method: str) -> int:
        return sum(1 for c in self.sim.world.calls if c.method == method)

    # -- acting as people ----------------------------------------------------------------

    async def command(self, text: str = f"cancel prod-eu {WF_FAILED} disk pressure") -> str:
        name = f"cmd-{len(self.slack.responses)}-{text[:6]}"
        body = slash_command_body(
            text, user_id=REQUESTER, channel_id=CHANNEL, response_url=self.slack.response_url(name)
        )
        assert (await self.bot.post(body)).status_code == 200
        return name

    async def open_request(self) -> tuple[str, str]:
        """Request the cancel and wait for the approval request; (approval id, message ts)."""
        name = await self.command()
        await self.slack.wait_for(
            "response_url", predicate=lambda c: c.params["_name"] == name, timeout=30
        )
        [message] = requests_posted(self.slack)
        return approval_id_of(message), message.ts

    async def approve(self, approval_id: str, ts: str) -> None:
        body = block_actions_body(
            action_id=APPROVE_ACTION_ID,
            value=approval_id,
            user_id=LEAD1,
            channel_id=CHANNEL,
            message_ts=ts,
            response_url=self.slack.response_url(f"act-{ts}"),
        )
        assert (await self.bot.post(body)).status_code == 200

    async def watch_running(self) -> str:
        """`/cce-upgrade watch` the running upgrade; the root message's ts."""
        await self.command(f"watch staging-eu {WF_RUNNING}")
        await self.until(lambda: self._roots() != [])
        return self._roots()[0].ts

    def _roots(self) -> list[Message]:
        return [m for m in self.slack.messages.values() if m.thread_ts is None and m.by_the_bot]

    # -- the kill -------------------------------------------------------------------------

    def hold(self, which: Held) -> None:
        """Slack takes the matching post but holds its answer back (for longer than the test)."""
        self.slack.hold_answer = lambda method, params: HANG if which(method, params) else 0.0

    async def kill_and_restart(self) -> None:
        """SIGKILL while the answer is held, then start a new process on the same database."""
        self.bot.kill()
        self.slack.hold_answer = None
        await self.bot.start()
        self.restarted_at = asyncio.get_running_loop().time()

    async def went_on(self, check: Callable[[], Awaitable[bool]]) -> float:
        """Wait for the sign that the flow went on; assert it came within 20 s of the restart."""
        await self.until(check, within=GOES_ON_WITHIN + 10)
        took = asyncio.get_running_loop().time() - self.restarted_at
        if path := os.environ.get("CRASH_TIMINGS"):
            line = json.dumps({"case": self.label, "seconds": round(took, 2)}) + "\n"
            await asyncio.to_thread(_append, Path(path), line)
        assert took <= GOES_ON_WITHIN, f"the flow went on {took:.1f} s after the restart"
        return took

    async def until(self, check: Callable[[], Any], within: float = 30.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            result = check()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return
            if loop.time() > deadline:
                raise AssertionError(f"condition not met within {within} s")
            await asyncio.sleep(0.05)

    # -- what the database and Slack show -------------------------------------------------

    async def record(self, approval_id: str) -> ApprovalRecord:
        """The request as the database holds it (read through its own short-lived engine)."""
        store = Store(create_engine(self.db_url))
        try:
            rec = await store.requests.get(approval_id)
        finally:
            await store.dispose()
        assert rec is not None, approval_id
        return rec

    async def watches(self) -> list[WatchRecord]:
        store = Store(create_engine(self.db_url))
        try:
            return await store.watches.open_watches()
        finally:
            await store.dispose()

    def thread(self, ts: str) -> list[str]:
        return [m.text for m in self.slack.thread(CHANNEL, ts)]

    def once(self, texts: list[str], marker: str) -> None:
        """The post with `marker` is there once; without the history scopes, once more, marked
        as a possible repeat (the bot could not look before sending it again)."""
        found = [t for t in texts if marker in t]
        if self.history:
            assert 1 == len(found), texts
            assert REPEAT_NOTE not in found[0]
        else:
            assert 2 == len(found), texts
            assert [False, True] == [REPEAT_NOTE in t for t in found]


def _append(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as out:
        out.write(line)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _env(tmp_path: Path, sim: RunningSimulator, slack: FakeSlack) -> dict[str, str]:
    config: dict[str, Any] = bot_yaml(
        watch={"interval": "1s", "fast_interval": "1s", "outage_warning_after": "2s"}
    )  # the lease is the default one: the 20 s target is for the defaults
    path = tmp_path / "bot.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "SLACK_BOT_TOKEN": "xoxb-standin",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "CCE_AUTH_TOKEN": SIM_TOKEN,
        "CCE_PROJECT_ID": sim.project_id,
        "CCE_ENDPOINT": sim.url,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
        "BOT_CONFIG": str(path),
        "SKIP_SLACK_SDK_WARNING": "1",
    }


@pytest.fixture
def bot_process() -> Iterator[Callable[[dict[str, str], Path], BotProcess]]:
    """Builds BotProcess objects, and SIGKILLs every one of them at teardown, whatever happened."""
    made: list[BotProcess] = []

    def make(env: dict[str, str], log_dir: Path) -> BotProcess:
        made.append(BotProcess(env, log_dir))
        return made[-1]

    try:
        yield make
    finally:
        for proc in made:
            proc.kill()


@pytest.fixture(params=[True, False], ids=["history", "no-history"])
def history(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture
async def crash(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    bot_process: Callable[[dict[str, str], Path], BotProcess],
) -> AsyncIterator[Crash]:
    history = (
        bool(request.getfixturevalue("history")) if "history" in request.fixturenames else True
    )
    world = build_world(default_scenario(), step_seconds=2.0)
    faults = CrashFaults(world)
    async with (
        serve_simulator(world, token=SIM_TOKEN, faults=faults) as sim,
        FakeSlack() as slack,
    ):
        if not history:
            slack.scopes = ",".join(s for s in slack.scopes.split(",") if s not in HISTORY)
        bot = bot_process(_env(tmp_path, sim, slack), tmp_path)
        try:
            await bot.start()
            yield Crash(sim, faults, slack, bot, history, request.node.name)
        finally:
            bot.kill()  # before the stand-ins stop; the fixture above kills it in any case
            # pytest shows these when the test failed: the bots' logs and what Slack was asked
            print(bot.stderr)
            for c in slack.calls:
                print(f"{c.at:.3f} {c.method} {c.status} {c.error} {sorted(c.params)}")


def _key(params: dict[str, Any]) -> str:
    """The key a post carries in its metadata ("" for none)."""
    return str(((params.get("metadata") or {}).get("event_payload") or {}).get("key", ""))


def _posting(which: Callable[[dict[str, Any]], bool]) -> Held:
    return lambda method, params: method == "chat.postMessage" and which(params)


# -- each post that matters ----------------------------------------------------------------


async def test_killed_while_slack_held_the_request_message(crash: Crash, history: bool) -> None:
    """The request message: posted once (or once more, marked), the request goes on there, and
    the approval sends one cancel."""
    crash.hold(_posting(lambda p: not p.get("thread_ts")))
    await crash.command()
    await crash.until(lambda: len(requests_posted(crash.slack)) == 1)
    approval_id = approval_id_of(requests_posted(crash.slack)[0])
    await crash.kill_and_restart()

    async def recorded() -> bool:
        return (await crash.record(approval_id)).message_ts is not None

    await crash.went_on(recorded)
    crash.once([text_of(m) for m in requests_posted(crash.slack)], approval_id)
    rec = await crash.record(approval_id)
    assert rec.message_ts == requests_posted(crash.slack)[-1].ts  # the one the flow goes on
    await crash.until(lambda: any(e.user == REQUESTER for e in crash.slack.ephemerals))
    await crash.approve(approval_id, rec.message_ts)
    await crash.until(lambda: crash.calls("PATCH") == 1)
    await asyncio.sleep(1.0)
    assert 1 == crash.calls("PATCH")


async def test_killed_while_slack_held_the_outcome_reply(crash: Crash, history: bool) -> None:
    """The "Cancelled" reply: once (or once more, marked); the watch opens; one cancel."""
    approval_id, ts = await crash.open_request()
    crash.hold(_posting(lambda p: _key(p).endswith(":outcome")))
    await crash.approve(approval_id, ts)
    await crash.until(lambda: any("Cancelled" in t for t in crash.thread(ts)))
    await crash.kill_and_restart()

    async def watching() -> bool:
        return len(await crash.watches()) == 1

    await crash.went_on(watching)
    crash.once(crash.thread(ts), "Cancelled")
    assert 1 == crash.calls("PATCH")


async def test_killed_while_slack_held_a_reply_of_what_the_answer_showed(
    crash: Crash, history: bool
) -> None:
    """The cancel's answer already showed the Rollback running; its reply was cut short."""
    crash.sim.world.rollback_at_once = True
    approval_id, ts = await crash.open_request()
    crash.hold(_posting(lambda p: ":change:" in _key(p)))
    await crash.approve(approval_id, ts)
    await crash.until(lambda: any("*Rollback*: not started" in t for t in crash.thread(ts)))
    await crash.kill_and_restart()

    async def watching() -> bool:
        return len(await crash.watches()) == 1

    await crash.went_on(watching)
    crash.once(crash.thread(ts), "*Rollback*: not started")
    assert 1 == sum("Cancelled" in t for t in crash.thread(ts))
    assert 1 == crash.calls("PATCH")


async def test_killed_while_slack_held_a_progress_reply(crash: Crash, history: bool) -> None:
    """A watcher's reply: once (or once more, marked); the watch goes on to its summary."""
    approval_id, ts = await crash.open_request()
    crash.hold(_posting(lambda p: "/" in _key(p)))
    await crash.approve(approval_id, ts)
    await crash.until(lambda: any("*Rollback*:" in t for t in crash.thread(ts)))
    [held] = [t for t in crash.thread(ts) if "*Rollback*:" in t]
    await crash.kill_and_restart()
    await crash.went_on(lambda: any("settled in phase" in t for t in crash.thread(ts)))
    crash.once(crash.thread(ts), held)
    assert 1 == crash.calls("PATCH")


async def test_killed_while_slack_held_the_summary(crash: Crash, history: bool) -> None:
    """The summary: once (or once more, marked); the watch is closed."""
    approval_id, ts = await crash.open_request()
    crash.hold(_posting(lambda p: "settled in phase" in str(p.get("text"))))
    await crash.approve(approval_id, ts)
    await crash.until(lambda: any("settled in phase" in t for t in crash.thread(ts)), within=40)
    await crash.kill_and_restart()

    async def closed() -> bool:
        return await crash.watches() == []

    await crash.went_on(closed)
    crash.once(crash.thread(ts), "settled in phase")


async def test_killed_while_slack_held_the_outage_warning(crash: Crash, history: bool) -> None:
    """The outage warning: once (or once more, marked); the recovery note follows."""
    root = await crash.watch_running()
    crash.hold(_posting(lambda p: "has been failing" in str(p.get("text"))))
    crash.faults.error_rate = 1.0
    await crash.until(lambda: any("has been failing" in t for t in crash.thread(root)), within=40)
    await crash.kill_and_restart()
    crash.faults.error_rate = 0.0
    await crash.went_on(lambda: any("answers again" in t for t in crash.thread(root)))
    crash.once(crash.thread(root), "has been failing")


async def test_killed_while_slack_held_the_recovery_note(crash: Crash, history: bool) -> None:
    """The "answers again" note: once (or once more, marked); the watch goes on."""
    root = await crash.watch_running()
    crash.faults.error_rate = 1.0
    await crash.until(lambda: any("has been failing" in t for t in crash.thread(root)), within=40)
    crash.hold(_posting(lambda p: "answers again" in str(p.get("text"))))
    crash.faults.error_rate = 0.0
    await crash.until(lambda: any("answers again" in t for t in crash.thread(root)), within=40)
    await crash.kill_and_restart()

    async def settled() -> bool:
        return all(w.pending_key is None for w in await crash.watches())

    await crash.went_on(settled)
    await crash.until(lambda: len(crash.thread(root)) > 2 + (not history))
    crash.once(crash.thread(root), "answers again")


# -- the cancel: sending it, and its answer -------------------------------------------------


async def test_killed_during_the_reread_before_the_cancel(crash: Crash) -> None:
    """The re-read hangs; killed: the cancel was never sent; the restart sends it once."""
    approval_id, ts = await crash.open_request()
    gets = crash.calls("GET")
    crash.faults.trap = ("hang", lambda c: c.method == "GET")
    await crash.approve(approval_id, ts)
    await crash.until(lambda: crash.calls("GET") > gets)
    assert 0 == crash.calls("PATCH")
    await crash.kill_and_restart()

    async def cancelled() -> bool:
        return (await crash.record(approval_id)).state == "cancelled"

    await crash.went_on(cancelled)
    await crash.until(lambda: any("Cancelled" in t for t in crash.thread(ts)))
    assert 1 == crash.calls("PATCH") and crash.sim.world.phase(WF_FAILED) == "Cancel"
    assert "recovery.took_over" in crash.bot.log(2)


async def test_killed_while_the_cancel_was_in_flight(crash: Crash) -> None:
    """The PATCH hangs before it is applied; killed: settled by a read, never sent again."""
    approval_id, ts = await crash.open_request()
    crash.faults.trap = ("hang", lambda c: c.method == "PATCH")
    await crash.approve(approval_id, ts)
    await crash.until(lambda: crash.calls("PATCH") == 1)
    await crash.kill_and_restart()

    async def failed() -> bool:
        return (await crash.record(approval_id)).state == "failed"

    await crash.went_on(failed)
    await crash.until(lambda: any("not sent again" in t for t in crash.thread(ts)))
    await asyncio.sleep(1.0)
    assert 1 == crash.calls("PATCH") and crash.sim.world.phase(WF_FAILED) != "Cancel"
    assert not any("Cancelled" in t for t in crash.thread(ts))


async def test_killed_while_the_cancels_answer_was_held(crash: Crash) -> None:
    """The API applied the cancel and held its answer; killed: confirmed by a read, not resent."""
    approval_id, ts = await crash.open_request()
    crash.faults.trap = ("hold", lambda c: c.method == "PATCH")
    await crash.approve(approval_id, ts)
    await crash.until(lambda: crash.sim.world.phase(WF_FAILED) == "Cancel")
    await crash.kill_and_restart()

    async def cancelled() -> bool:
        return (await crash.record(approval_id)).state == "cancelled"

    await crash.went_on(cancelled)
    await crash.until(lambda: any("confirmed by reading" in t for t in crash.thread(ts)))
    assert 1 == crash.calls("PATCH")
