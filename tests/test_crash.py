"""Crashes with a real process kill: the production CLI in a subprocess, SIGKILLed mid-flow.

The simulator and the Slack stand-in run in the test process on loopback; the bot runs as
`python -m bot run` with an environment built from scratch and a SQLite file under tmp_path.
It is killed (SIGKILL) at a chosen point, and a new process is started on the same database and
config. Each scenario checks that nothing is lost, nothing is done twice and the flow finishes.
(tests/test_recovery.py covers the same ground by writing the state a crash would leave.)
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
import yaml

from bot.domain.approvals import ApprovalState
from bot.simulator import Fault, Faults, RunningSimulator, World, build_world, default_scenario
from bot.simulator import running_simulator as serve_simulator
from bot.slack.blocks import APPROVE_ACTION_ID
from bot.standin import FakeSlack, block_actions_body, post_signed, slash_command_body
from bot.standin.stack import SIGNING_SECRET, SIM_TOKEN
from bot.store import ApprovalRecord, Store, create_engine
from tests.e2e import (
    CHANNEL,
    LEAD1,
    REQUESTER,
    WF_FAILED,
    approval_id_of,
    bot_yaml,
    eventually,
    requests_posted,
)

READY_WITHIN = 30.0
HANG = 60.0  # longer than the test: a hung request is never applied while we look


class CrashFaults(Faults):
    """The simulator's faults, plus: hang every PATCH (before it is applied) when armed."""

    def __init__(self, world: World) -> None:
        super().__init__(hang_seconds=HANG)
        self.world = world
        self.hang_patches = False

    def take(self) -> Fault | None:
        # The request at hand was appended to world.calls just before take() is called.
        if self.hang_patches and self.world.calls and self.world.calls[-1].method == "PATCH":
            return Fault("hang")
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
        return text[-4000:]

    async def post(self, body: bytes) -> httpx.Response:
        return await post_signed(self.url + "/slack/events", body, SIGNING_SECRET)


class Crash:
    """One scenario's world: simulator, Slack stand-in, the bot process and its database."""

    def __init__(
        self, sim: RunningSimulator, faults: CrashFaults, slack: FakeSlack, bot: BotProcess
    ) -> None:
        self.sim = sim
        self.faults = faults
        self.slack = slack
        self.bot = bot
        self.db_url = bot.env["DATABASE_URL"]

    def calls(self, method: str) -> int:
        return sum(1 for c in self.sim.world.calls if c.method == method)

    async def command(self) -> str:
        name = "cmd-1"
        body = slash_command_body(
            f"cancel prod-eu {WF_FAILED} disk pressure",
            user_id=REQUESTER,
            channel_id=CHANNEL,
            response_url=self.slack.response_url(name),
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
            response_url=self.slack.response_url("act-1"),
        )
        assert (await self.bot.post(body)).status_code == 200

    async def record(self, approval_id: str) -> ApprovalRecord:
        """The request as the database holds it (read through its own short-lived engine)."""
        store = Store(create_engine(self.db_url))
        try:
            rec = await store.get_request(approval_id)
        finally:
            await store.dispose()
        assert rec is not None, approval_id
        return rec

    async def pending(self) -> list[ApprovalRecord]:
        store = Store(create_engine(self.db_url))
        try:
            return await store.requests_in_state(ApprovalState.PENDING)
        finally:
            await store.dispose()

    async def state_is(self, approval_id: str, state: str) -> bool:
        return (await self.record(approval_id)).state == state

    def thread_texts(self, ts: str) -> list[str]:
        return [m.text for m in self.slack.thread(CHANNEL, ts)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _env(tmp_path: Path, sim: RunningSimulator, slack: FakeSlack) -> dict[str, str]:
    config: dict[str, Any] = bot_yaml(
        approval={"recover_unsent_after": "1s", "settle_after": "2s"},
        watch={"interval": "1s", "fast_interval": "1s", "lease": "3s"},
    )
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


@pytest.fixture
async def crash(
    tmp_path: Path, bot_process: Callable[[dict[str, str], Path], BotProcess]
) -> AsyncIterator[Crash]:
    world = build_world(default_scenario())
    faults = CrashFaults(world)
    async with (
        serve_simulator(world, token=SIM_TOKEN, faults=faults) as sim,
        FakeSlack() as slack,
    ):
        bot = bot_process(_env(tmp_path, sim, slack), tmp_path)
        try:
            await bot.start()
            yield Crash(sim, faults, slack, bot)
        finally:
            bot.kill()  # before the stand-ins stop; the fixture above kills it in any case
            # pytest shows these when the test failed: the bots' logs and what Slack was asked
            print(bot.stderr)
            for c in slack.calls:
                print(f"{c.at:.3f} {c.method} {c.status} {c.error} {sorted(c.params)}")


async def test_killed_during_the_reread_before_the_cancel(crash: Crash) -> None:
    """Killed while the re-read hangs: the cancel was never sent; the restart sends it once."""
    approval_id, ts = await crash.open_request()
    gets = crash.calls("GET")
    crash.faults.scripted.append(Fault("hang"))  # the next request: the re-read
    await crash.approve(approval_id, ts)
    await eventually(lambda: _async(crash.calls("GET") > gets), within=30)
    assert (await crash.record(approval_id)).state == ApprovalState.APPROVED
    crash.bot.kill()
    assert crash.calls("PATCH") == 0

    await crash.bot.start()
    await eventually(lambda: crash.state_is(approval_id, ApprovalState.CANCELLED), within=30)
    await eventually(lambda: _async(any("Cancelled" in t for t in crash.thread_texts(ts))))
    assert crash.calls("PATCH") == 1
    assert crash.sim.world.phase(WF_FAILED) == "Cancel"
    await asyncio.sleep(1.0)  # two more housekeeping runs: still exactly one
    assert crash.calls("PATCH") == 1
    assert sum("Cancelled" in t for t in crash.thread_texts(ts)) == 1
    assert "cancel.recover.unsent" in crash.bot.log(2)  # the restarted process sent it


async def test_killed_while_the_cancel_hangs(crash: Crash) -> None:
    """Killed while the PATCH hangs (not yet applied): settled by a read, never sent again."""
    approval_id, ts = await crash.open_request()
    crash.faults.hang_patches = True
    await crash.approve(approval_id, ts)
    await eventually(lambda: _async(crash.calls("PATCH") == 1), within=30)
    assert (await crash.record(approval_id)).state == ApprovalState.CANCEL_REQUESTED
    crash.bot.kill()
    crash.faults.hang_patches = False  # a second PATCH would now be applied: none may come

    await crash.bot.start()
    await eventually(lambda: crash.state_is(approval_id, ApprovalState.FAILED), within=30)
    await eventually(lambda: _async(any("not sent again" in t for t in crash.thread_texts(ts))))
    await asyncio.sleep(1.0)  # two more housekeeping runs (every 0.5 s)
    assert crash.calls("PATCH") == 1
    assert crash.sim.world.phase(WF_FAILED) != "Cancel"
    assert sum("not sent again" in t for t in crash.thread_texts(ts)) == 1
    assert not any("Cancelled" in t for t in crash.thread_texts(ts))
    assert "cancel.recover.unconfirmed" in crash.bot.log(2)


async def test_killed_while_the_request_is_being_posted(crash: Crash) -> None:
    """Killed while chat.postMessage hangs: the requester is told; nothing reaches CCE."""
    # Held before it is applied, for longer than the test, and left so: the bytes of the killed
    # bot's post may still be unread in the socket when it dies, and the stand-in (like Slack)
    # serves a request that was sent in full. Lifting the delay would let it land after all, which
    # is the other test's case (the restart adopts the message).
    crash.slack.delay["chat.postMessage"] = 10 * HANG
    await crash.command()
    await eventually(lambda: _async(crash.calls("GET") == 1), within=30)

    async def stored_unposted() -> bool:
        found = await crash.pending()
        return len(found) == 1 and found[0].message_ts is None

    await eventually(stored_unposted, within=30)  # stored, and the post is in flight
    crash.bot.kill()

    [rec] = await crash.pending()
    await crash.bot.start()
    await eventually(lambda: crash.state_is(rec.approval_id, ApprovalState.FAILED), within=30)

    def told() -> list[str]:
        return [
            e.text
            for e in crash.slack.ephemerals
            if e.user == REQUESTER and "not posted" in e.text and "Run the command again" in e.text
        ]

    await eventually(lambda: _async(len(told()) == 1), within=30)
    await asyncio.sleep(1.0)  # two more housekeeping runs: told once, nothing else
    assert len(told()) == 1
    assert [c.method for c in crash.sim.world.calls] == ["GET"]  # the pre-check read only
    assert requests_posted(crash.slack) == []


async def test_killed_after_slack_took_a_progress_reply_before_it_was_recorded(
    crash: Crash,
) -> None:
    """Killed while Slack holds its answer to a progress reply it already posted: the restart
    finds the reply in the thread (by the key in its metadata) and does not post it again."""
    approval_id, ts = await crash.open_request()

    def progress(method: str, params: dict[str, Any]) -> float:
        return HANG if method == "chat.postMessage" and _key(params).startswith("w-") else 0.0

    crash.slack.hold_answer = progress
    await crash.approve(approval_id, ts)

    def keyed() -> list[str]:  # the watcher's replies
        return [
            m.text
            for m in crash.slack.thread(CHANNEL, ts)
            if m.metadata and m.metadata["event_payload"]["key"].startswith("w-")
        ]

    await eventually(lambda: _async(len(keyed()) == 1), within=60)  # taken; its answer held
    crash.bot.kill()
    crash.slack.hold_answer = None
    [held] = keyed()

    await crash.bot.start()
    await eventually(lambda: _async(any("settled in phase" in t for t in keyed())), within=60)
    thread = crash.thread_texts(ts)
    assert thread.count(held) == 1
    assert len(keyed()) == len(set(keyed()))
    assert crash.calls("PATCH") == 1
    assert sum("Cancelled" in t for t in thread) == 1
    assert "watcher.post.resumed" in crash.bot.log(2)


async def test_killed_after_slack_took_the_request_before_it_was_recorded(crash: Crash) -> None:
    """Killed while Slack holds its answer to the request message it already posted: the
    restart finds the message, keeps the request open, and the approval goes through once."""

    def request_post(method: str, params: dict[str, Any]) -> float:
        top_level = not params.get("thread_ts")
        return HANG if method == "chat.postMessage" and top_level else 0.0

    crash.slack.hold_answer = request_post
    await crash.command()
    await eventually(lambda: _async(len(requests_posted(crash.slack)) == 1), within=30)
    crash.bot.kill()
    crash.slack.hold_answer = None
    [message] = requests_posted(crash.slack)
    approval_id = approval_id_of(message)

    await crash.bot.start()

    def told() -> list[str]:
        return [e.text for e in crash.slack.ephemerals if e.user == REQUESTER]

    await eventually(lambda: _async(len(told()) == 1), within=30)
    assert "is posted" in told()[0]
    assert (await crash.record(approval_id)).message_ts == message.ts
    await crash.approve(approval_id, message.ts)
    await eventually(lambda: crash.state_is(approval_id, ApprovalState.CANCELLED), within=30)
    assert crash.calls("PATCH") == 1
    assert len(requests_posted(crash.slack)) == 1
    assert "cancel.recover.adopted" in crash.bot.log(2)


async def test_killed_after_the_answer_was_stored_while_its_reply_was_posted(
    crash: Crash,
) -> None:
    """Killed after the accepted cancel was recorded, while Slack holds its answer to the
    'Cancelled' reply it already posted: the restart finishes the follow-up (the watch) without
    posting that reply again, and never sends a second cancel."""
    approval_id, ts = await crash.open_request()

    def outcome_reply(method: str, params: dict[str, Any]) -> float:
        return HANG if method == "chat.postMessage" and _key(params).endswith(":outcome") else 0.0

    crash.slack.hold_answer = outcome_reply
    await crash.approve(approval_id, ts)
    await eventually(lambda: _async(any("Cancelled" in t for t in crash.thread_texts(ts))), 30)
    assert (await crash.record(approval_id)).state == ApprovalState.CANCELLED
    crash.bot.kill()
    crash.slack.hold_answer = None

    await crash.bot.start()
    settled = lambda: _async(any("settled in phase" in t for t in crash.thread_texts(ts)))  # noqa: E731
    await eventually(settled, within=60)
    thread = crash.thread_texts(ts)
    assert sum("Cancelled" in t for t in thread) == 1
    assert len(thread) == len(set(thread))
    assert crash.calls("PATCH") == 1
    assert "cancel.recover.follow_up" in crash.bot.log(2)


def _key(params: dict[str, Any]) -> str:
    """The key a post carries in its metadata ("" for none)."""
    return str(((params.get("metadata") or {}).get("event_payload") or {}).get("key", ""))


async def _async(value: bool) -> bool:
    return value
