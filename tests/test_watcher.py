"""Threaded progress: every change posted once, in order, across restarts, replicas and faults."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from bot.app import create_app
from bot.domain.delivery import NewDelivery
from bot.simulator import RunningSimulator, default_world, running_simulator
from bot.slack.delivery import REPEAT_NOTE
from bot.standin.stack import FAST_RETRY, SIM_TOKEN, Stack, running_stack, serve_bot
from bot.store.records import NewWatch
from tests.e2e import (
    CHANNEL,
    STAGING,
    WF_RUNNING,
    bot_yaml,
    cancel_failed_workflow,
)

STEP = 10.0  # simulated seconds per workflow step; the bot polls every 10 s too


@dataclass
class Clocks:
    """One fake time for the simulator (monotonic seconds) and the bot (aware datetimes)."""

    seconds: float = 1000.0
    start: datetime = field(default_factory=lambda: datetime(2026, 12, 1, 8, 0, tzinfo=UTC))
    paused: float = 0.0  # simulator seconds held back while the simulator is "frozen"
    frozen_at: float | None = None

    def sim(self) -> float:
        return (self.frozen_at if self.frozen_at is not None else self.seconds) - self.paused

    def freeze_sim(self) -> None:
        self.frozen_at = self.seconds

    def thaw_sim(self) -> None:
        assert self.frozen_at is not None
        self.paused += self.seconds - self.frozen_at
        self.frozen_at = None

    def bot(self) -> datetime:
        return self.start + timedelta(seconds=self.seconds - 1000.0)

    def advance(self, seconds: float) -> None:
        self.seconds += seconds


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


@pytest.fixture
async def sim(clocks: Clocks) -> AsyncIterator[RunningSimulator]:
    world = default_world(step_seconds=STEP, clock=clocks.sim)
    async with running_simulator(world, token=SIM_TOKEN) as running:
        yield running


@pytest.fixture
async def stack(sim: RunningSimulator, sqlite_url: str, clocks: Clocks) -> AsyncIterator[Stack]:
    async with running_stack(sim, sqlite_url, bot_yaml(), clock=clocks.bot) as running:
        yield running


def replies(stack: Stack, root_ts: str) -> list[str]:
    return [m.text for m in stack.slack.thread(CHANNEL, root_ts)]


async def _watch_running(stack: Stack) -> str:
    """`/cce-upgrade watch` the running upgrade; the root message's ts."""
    _, name = await stack.command(f"watch staging-eu {WF_RUNNING}")
    await stack.slack.wait_for("response_url", predicate=lambda c: c.params["_name"] == name)
    [root] = [m for m in stack.slack.messages.values() if m.thread_ts is None]
    return root.ts


async def run_until_closed(stack: Stack, clocks: Clocks, limit: int = 30) -> None:
    for _ in range(limit):
        clocks.advance(STEP)
        await stack.bot.watcher.tick()
        if await stack.bot.store.watches.count_open() == 0:
            return
    raise AssertionError("the watch never closed")


async def test_after_approval_each_change_then_summary_then_silence(
    stack: Stack, clocks: Clocks
) -> None:
    """Cancel → the rollback starting and finishing, in order → a summary → nothing more."""
    root = await cancel_failed_workflow(stack)
    assert 1 == await stack.bot.store.watches.count_open()
    await run_until_closed(stack, clocks)
    thread = replies(stack, root)
    assert "Cancelled" in thread[0]
    assert "*Rollback*: not started → *Running*" in thread[1]
    assert "*Rollback*: Running → *Success*" in thread[2]
    assert "settled in phase *Cancel*" in thread[3] and "Rollback: Success" in thread[3]
    assert 4 == len(thread)
    posts = len(stack.slack.calls_to("chat.postMessage"))
    for _ in range(3):
        clocks.advance(STEP)
        await stack.bot.watcher.tick()
    assert posts == len(stack.slack.calls_to("chat.postMessage"))
    assert "Rollback" in str(stack.slack.message(CHANNEL, root).blocks)  # status kept current


async def test_watch_command_follows_a_running_upgrade_to_completion(
    stack: Stack, clocks: Clocks
) -> None:
    """`watch` posts a root message, then each task change and the phase reaching Success."""
    _, name = await stack.command(f"watch staging-eu {WF_RUNNING}")
    await stack.slack.wait_for("response_url", predicate=lambda c: c.params["_name"] == name)
    assert "Watching it" in stack.responses(name)[-1]["text"]
    [root] = [m for m in stack.slack.messages.values() if m.thread_ts is None]
    assert "Watching upgrade workflow" in root.text + str(root.blocks)
    await run_until_closed(stack, clocks)
    thread = replies(stack, root.ts)
    assert "phase: *Running* → *Success*" in thread[-2]
    assert "settled in phase *Success*" in thread[-1]
    task_lines = [t for t in thread if "→" in t and "phase" not in t]
    assert any("*Cluster*: Running → *Success*" in t for t in task_lines)
    assert len(thread) == len(set(thread))
    assert "Success" in str(stack.slack.message(CHANNEL, root.ts).blocks)


async def test_watching_twice_is_refused(stack: Stack) -> None:
    """A second `watch` of the same workflow in the same channel points to the first."""
    for expected in ("Watching it", "already being watched"):
        _, name = await stack.command(f"watch staging-eu {WF_RUNNING}")
        await stack.slack.wait_for(
            "response_url", predicate=lambda c, n=name: c.params["_name"] == n
        )
        assert expected in stack.responses(name)[-1]["text"]


async def test_restart_mid_watch_posts_nothing_twice_and_misses_nothing(
    stack: Stack, clocks: Clocks
) -> None:
    """Stop the app between polls and start it again: the thread reads exactly as without it."""
    root_ts = await _watch_running(stack)
    for _ in range(2):
        clocks.advance(STEP)
        await stack.bot.watcher.tick()
    before = replies(stack, root_ts)
    assert before
    await stack.restart_bot()
    await run_until_closed(stack, clocks)
    thread = replies(stack, root_ts)
    assert before == thread[: len(before)]
    assert len(thread) == len(set(thread))
    assert "settled in phase *Success*" in thread[-1]
    changes = [t for t in thread if "→" in t]
    statuses = ["Snapshot", "Cluster", "PostCheck"]
    for task in statuses:
        assert any(f"*{task}*: Running → *Success*" in t for t in changes), task


async def test_two_replicas_post_every_change_exactly_once(
    clocks: Clocks, tmp_path: object
) -> None:
    """Two instances on one PostgreSQL database, 50 workflows: each change posted once in total."""
    from tests.conftest import fresh_postgres

    url = await fresh_postgres()
    world = default_world(step_seconds=STEP, clock=clocks.sim)
    workflows = world.add_running_workflows(STAGING, 50)
    async with (
        running_simulator(world, token=SIM_TOKEN) as sim,
        running_stack(sim, url, bot_yaml(), clock=clocks.bot) as stack,
    ):
        second = await serve_bot(
            create_app(stack.config, clock=clocks.bot, retry=FAST_RETRY), scheduler=False
        )
        try:
            for wf in workflows:
                _, name = await stack.command(f"watch staging-eu {wf}")
                await stack.slack.wait_for(
                    "response_url", predicate=lambda c, n=name: c.params["_name"] == n
                )
            for _ in range(30):
                clocks.advance(STEP)
                polled = await asyncio.gather(stack.bot.watcher.tick(), second.bot.watcher.tick())
                if await stack.bot.store.watches.count_open() == 0:
                    break
            else:
                raise AssertionError("watches did not all close")
            assert all(p >= 0 for p in polled)
        finally:
            await second.stop()
        roots = [m for m in stack.slack.messages.values() if m.thread_ts is None]
        assert 50 == len(roots)
        for root in roots:
            thread = replies(stack, root.ts)
            assert len(thread) == len(set(thread)), thread
            assert "settled in phase *Success*" in thread[-1]
            assert 1 == sum("settled" in t for t in thread)


async def test_outage_warns_once_recovers_once_and_loses_nothing(
    stack: Stack, clocks: Clocks
) -> None:
    """A 7-minute API outage: one warning, one recovery note, and every change still posted."""
    root_ts = await _watch_running(stack)
    clocks.advance(STEP)
    await stack.bot.watcher.tick()  # one change reported before the outage
    reported = len(replies(stack, root_ts))
    clocks.freeze_sim()  # the workflow holds still while the API is down
    stack.sim.faults.error_rate = 1.0
    for _ in range(7 * 6):  # seven minutes of ticks every 10 s
        clocks.advance(STEP)
        await stack.bot.watcher.tick()
    thread = replies(stack, root_ts)
    assert 1 == sum("has been failing" in t for t in thread)
    assert reported + 1 == len(thread)  # the warning, nothing else
    stack.sim.faults.error_rate = 0.0
    clocks.thaw_sim()
    await run_until_closed(stack, clocks, limit=60)
    thread = replies(stack, root_ts)
    assert 1 == sum("has been failing" in t for t in thread)
    assert 1 == sum("answers again" in t for t in thread)
    assert "settled in phase *Success*" in thread[-1]
    # Polls back off during the outage, so steps taken meanwhile may arrive together; what
    # matters is that every task's outcome reaches the thread.
    for task in ("Snapshot", "Cluster", "PostCheck"):
        assert any(f"*{task}*:" in t and "→ *Success*" in t for t in thread), task


async def test_a_404_ends_the_watch_with_an_explanation(stack: Stack, clocks: Clocks) -> None:
    """The workflow disappearing ends the watch, saying why."""
    root_ts = await _watch_running(stack)
    stack.sim.world.delete_workflow(WF_RUNNING)
    clocks.advance(STEP)
    await stack.bot.watcher.tick()
    assert (
        "404" in replies(stack, root_ts)[-1] and "stopped watching" in replies(stack, root_ts)[-1]
    )
    assert 0 == await stack.bot.store.watches.count_open()


async def test_slack_rate_limit_is_retried_and_posted_once(stack: Stack, clocks: Clocks) -> None:
    """chat.postMessage answering 429 with Retry-After: the reply is retried and made once."""
    root_ts = await _watch_running(stack)
    stack.slack.rate_limit_next("chat.postMessage", retry_after=0)
    clocks.advance(STEP)
    await stack.bot.watcher.tick()
    limited = [c for c in stack.slack.calls_to("chat.postMessage") if c.status == 429]
    assert 1 == len(limited)
    thread = replies(stack, root_ts)
    assert 1 == len(thread) and "→" in thread[0]


async def test_max_duration_stops_and_says_how_to_resume(
    sim: RunningSimulator, sqlite_url: str, clocks: Clocks
) -> None:
    """After watch.max_duration the watch ends with a note naming the command to resume."""
    yaml = bot_yaml(watch={"interval": "10s", "max_duration": "1m"})
    sim.world.step_seconds = 10_000  # the upgrade makes no progress
    async with running_stack(sim, sqlite_url, yaml, clock=clocks.bot) as stack:
        root_ts = await _watch_running(stack)
        await run_until_closed(stack, clocks)
        [note] = replies(stack, root_ts)
        assert "Stopped watching after 1m" in note
        assert f"/cce-upgrade watch staging-eu {WF_RUNNING}" in note


def _posts_of(stack: Stack, text: str) -> int:
    return sum(1 for c in stack.slack.calls_to("chat.postMessage") if c.params["text"] == text)


async def test_a_reply_whose_answer_was_lost_is_found_in_the_thread_not_posted_again(
    stack: Stack, clocks: Clocks
) -> None:
    """Slack takes the reply and the connection drops before its answer: one reply, not two.

    The SDK's own retry on a dropped connection would post it again; the bot instead finds the
    reply by the key in its metadata on the next poll and carries on from there.
    """
    root_ts = await _watch_running(stack)
    stack.slack.drop_next("chat.postMessage")
    clocks.advance(STEP)
    await stack.bot.watcher.tick()
    [first] = replies(stack, root_ts)
    assert _posts_of(stack, first) == 1  # taken once, and not retried
    await run_until_closed(stack, clocks)
    thread = replies(stack, root_ts)
    assert thread[0] == first
    assert len(thread) == len(set(thread))
    assert "settled in phase *Success*" in thread[-1]
    assert _posts_of(stack, first) == 1
    [lookup] = stack.slack.calls_to("conversations.replies")
    assert lookup.params["ts"] == root_ts


async def test_without_a_history_scope_a_lost_reply_is_sent_again_and_marked(
    stack: Stack, clocks: Clocks
) -> None:
    """The thread can't be read (`missing_scope`): the reply is repeated, saying it may be."""
    root_ts = await _watch_running(stack)
    stack.slack.drop_next("chat.postMessage")
    stack.slack.fail_next("conversations.replies", "missing_scope")
    clocks.advance(STEP)
    await stack.bot.watcher.tick()
    first, again = replies(stack, root_ts)  # settled at once: it could not look, so it resent
    assert again == f"{first}\n{REPEAT_NOTE}"
    await run_until_closed(stack, clocks)
    thread = replies(stack, root_ts)
    assert thread[:2] == [first, again]
    assert len(thread[2:]) == len(set(thread[2:])) and first not in thread[2:]
    assert "settled in phase *Success*" in thread[-1]


async def test_a_reply_cut_short_before_slack_took_it_is_posted_after_the_lease_lapses(
    stack: Stack, clocks: Clocks
) -> None:
    """A replica wrote a reply down and died before posting it: another posts it, once."""
    root_ts = await _watch_running(stack)
    clocks.advance(STEP)
    store, now = stack.bot.store, clocks.bot()
    [watch] = await store.watches.claim_due("dead-replica", now, now + timedelta(seconds=60), 10)
    key = f"{watch.watch_id}/{watch.posts}"
    assert await store.watches.advance(
        watch.watch_id, "dead-replica", watch.version, pending_key=key
    )
    after = {"posts": watch.posts + 1, "pending_key": None}
    post = NewDelivery(key, CHANNEL, "a reply never posted", thread_ts=root_ts, after=after)
    assert await store.deliveries.insert(
        post, owner="dead-replica", now=now, until=now + timedelta(seconds=60)
    )
    clocks.advance(30)
    await stack.bot.watcher.tick()  # still leased to the dead replica
    assert replies(stack, root_ts) == []
    clocks.advance(40)
    await stack.bot.watcher.tick()
    thread = replies(stack, root_ts)
    assert thread[0] == "a reply never posted"
    assert len(stack.slack.calls_to("conversations.replies")) == 1
    await run_until_closed(stack, clocks)
    thread = replies(stack, root_ts)
    assert thread.count("a reply never posted") == 1
    assert "settled in phase *Success*" in thread[-1]


async def test_the_cancels_own_answer_is_told_right_after_cancelled(
    stack: Stack, clocks: Clocks
) -> None:
    """The cancel's answer already shows the Rollback running: the thread says so right after
    "Cancelled" (not only the message), then the Rollback's success, then the summary."""
    stack.sim.world.rollback_at_once = True
    root = await cancel_failed_workflow(stack)
    told = replies(stack, root)
    assert "Cancelled" in told[0]
    assert "*Rollback*: not started → *Running*" in told[1]
    await run_until_closed(stack, clocks)
    thread = replies(stack, root)
    assert "*Rollback*: Running → *Success*" in thread[2]
    assert "settled in phase *Cancel*" in thread[3]
    assert 4 == len(thread)


async def test_success_with_a_rollback_listed_that_never_ran_settles_at_once(
    stack: Stack, clocks: Clocks
) -> None:
    """Phase Success, no task running, a Rollback listed without a status (the API lists points
    that never ran): the summary comes within two intervals, and no more reads follow."""
    world = stack.sim.world
    points = [
        ("PreCheck", "Success"),
        ("Snapshot", "Success"),
        ("Cluster", "Success"),
        ("PostCheck", "Success"),
        ("Rollback", None),
    ]
    workflow_id = world.add_workflow(STAGING, points=points, phase="Success")
    _, name = await stack.command(f"watch staging-eu {workflow_id}")
    await stack.slack.wait_for("response_url", predicate=lambda c: c.params["_name"] == name)
    [root] = [m for m in stack.slack.messages.values() if m.thread_ts is None]
    for _ in range(2):
        clocks.advance(STEP)
        await stack.bot.watcher.tick()
    [summary] = replies(stack, root.ts)
    assert "settled in phase *Success*" in summary and "Rollback: not started" in summary
    reads = len(world.calls)
    for _ in range(5):
        clocks.advance(STEP)
        await stack.bot.watcher.tick()
    assert reads == len(world.calls)


async def test_a_rollback_that_never_starts_is_given_up_after_the_grace(
    sim: RunningSimulator, sqlite_url: str, clocks: Clocks
) -> None:
    """After a cancel the Rollback stays listed, never started: the watch waits
    `watch.rollback_grace`, then its summary says the Rollback did not start."""
    yaml = bot_yaml(watch={"interval": "10s", "rollback_grace": "1m"})
    async with running_stack(sim, sqlite_url, yaml, clock=clocks.bot) as stack:
        sim.world.step_seconds = 1e9  # the Rollback never starts
        root = await cancel_failed_workflow(stack)
        for _ in range(4):  # 40 s: within the grace
            clocks.advance(STEP)
            await stack.bot.watcher.tick()
        [cancelled] = replies(stack, root)  # nothing more while the grace runs
        assert "Cancelled" in cancelled
        await run_until_closed(stack, clocks)
        *_, summary = replies(stack, root)
        assert "settled in phase *Cancel*" in summary
        assert "Rollback task is listed but did not start" in summary


def _reads(sim: RunningSimulator) -> list[str]:
    """The GETs the simulator served for workflows: `list` or the shown workflow's id."""
    out = []
    for call in sim.world.calls:
        if call.method == "GET" and "/operation/upgradeworkflows" in call.path:
            tail = call.path.split("/operation/upgradeworkflows")[1].strip("/")
            out.append(tail or "list")
    return out


async def _three_watches(stack: Stack, clocks: Clocks) -> list[str]:
    """Three running workflows on the staging cluster, watched; the calls so far forgotten."""
    ids = stack.sim.world.add_running_workflows(STAGING, 3)
    for workflow_id in ids:
        _, name = await stack.command(f"watch staging-eu {workflow_id}")
        await stack.slack.wait_for(
            "response_url", predicate=lambda c, n=name: c.params["_name"] == n
        )
    clocks.advance(STEP)  # all three due together
    stack.sim.world.calls.clear()
    return ids


async def test_watches_on_one_cluster_due_together_share_one_list_call(
    stack: Stack, clocks: Clocks
) -> None:
    """Three watches on one cluster, due together: one list call serves all three."""
    await _three_watches(stack, clocks)
    assert 3 == await stack.bot.watcher.tick()
    assert ["list"] == _reads(stack.sim)


async def test_a_workflow_missing_from_the_list_or_without_status_is_shown_on_its_own(
    stack: Stack, clocks: Clocks
) -> None:
    """The list leaves one workflow out and lists another without its status: each of those
    two is read with a show call; the third is served by the list."""
    missing, bare, listed = await _three_watches(stack, clocks)
    stack.sim.world.list_hides.add(missing)
    stack.sim.world.list_without_status.add(bare)
    assert 3 == await stack.bot.watcher.tick()
    reads = _reads(stack.sim)
    assert "list" == reads[0] and sorted([bare, missing]) == sorted(reads[1:])
    assert listed not in _reads(stack.sim)


async def test_more_watches_due_than_one_claim_takes_are_all_polled_in_one_tick(
    stack: Stack, clocks: Clocks
) -> None:
    """1,200 watches due at once, more than a claim takes (500): one tick polls them all, from
    the cluster's list, and none is left for the next tick."""
    clocks.freeze_sim()  # nothing changes: every poll is a quiet one
    await _watch_running(stack)
    [first] = await stack.bot.store.watches.open_watches()
    for i in range(1, 1200):
        await stack.bot.store.watches.create(
            NewWatch(
                watch_id=f"backlog-{i}",
                approval_id=None,
                cluster_alias=first.cluster_alias,
                project_id=first.project_id,
                cluster_id=first.cluster_id,
                endpoint=first.endpoint,
                workflow_id=first.workflow_id,
                channel_id=CHANNEL,
                thread_ts=f"1600000000.{i:06d}",
                root_ts=None,
                last_reported=first.last_reported,
                started_at=first.started_at,
                next_due_at=first.next_due_at,
            )
        )
    clocks.advance(STEP)
    stack.sim.world.calls.clear()
    posts = len(stack.slack.calls_to("chat.postMessage"))
    assert 1200 == await stack.bot.watcher.tick()
    assert {"list"} == set(_reads(stack.sim))
    assert 0 == await stack.bot.watcher.tick()  # nothing left over
    assert posts == len(stack.slack.calls_to("chat.postMessage"))
