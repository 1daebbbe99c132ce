"""Alerts (SPEC §10.3): the bot notices a failed or stalled upgrade first, says so once, ever —
across restarts and replicas — and its Watch button follows the upgrade in the alert's thread.

Through the running app, the simulator and the Slack stand-in; most tests drive the alerts job
with the bot's clock, one runs it with the scheduler on the wall clock.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.simulator import RunningSimulator, build_world, default_scenario, running_simulator
from bot.slack.alerts import ALERT_CANCEL_ACTION_ID, ALERT_WATCH_ACTION_ID
from bot.slack.modal import REASON_ACTION_ID, REASON_BLOCK_ID
from bot.standin import FakeSlack, Message
from bot.standin.stack import SIM_TOKEN, Stack, running_stack
from tests.e2e import (
    LEAD1,
    REQUESTER,
    STAGING,
    WF_FAILED,
    WF_RUNNING,
    FakeClock,
    approval_id_of,
    bot_yaml,
    buttons,
    eventually,
    requests_posted,
)

ALERTS = "C0ALERTS"
NOW = datetime.now(UTC).replace(microsecond=0)


def alerts_yaml(**alerts: Any) -> dict[str, Any]:
    return bot_yaml(
        alerts={"channel": ALERTS, "interval": "1m", "stalled_after": "45m", **alerts},
        channels=["C0INCIDENT", ALERTS],
    )


def posted_alerts(slack: FakeSlack) -> list[Message]:
    found = [m for m in slack.messages.values() if m.channel == ALERTS and m.thread_ts is None]
    return sorted(found, key=lambda m: m.ts)


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    """The default scenario, frozen: nothing changes unless a test changes it."""
    world = build_world(default_scenario(), step_seconds=1e9)
    async with running_simulator(world, token=SIM_TOKEN) as running:
        yield running


@contextlib.asynccontextmanager
async def alerting(
    sim: RunningSimulator, url: str, clock: FakeClock, **alerts: Any
) -> AsyncIterator[Stack]:
    async with running_stack(sim, url, alerts_yaml(**alerts), clock=clock) as stack:
        yield stack


async def tick(stack: Stack) -> int:
    assert stack.bot.parts.alerts is not None
    return await stack.bot.parts.alerts.tick()


async def test_a_failed_task_is_alerted_once_with_both_buttons(
    sim: RunningSimulator, db_url: str
) -> None:
    """A running upgrade's Cluster task turns Failed: the next look posts one alert in
    alerts.channel — cluster, workflow, versions, what and when, the timeline, two buttons —
    and no later look posts it again."""
    clock = FakeClock(NOW)
    async with alerting(sim, db_url, clock, clusters=["staging-eu"]) as stack:
        assert 1 == await tick(stack)
        assert [] == posted_alerts(stack.slack)  # running fine: nothing to say
        sim.world.set_task_status(WF_RUNNING, "Cluster", "Failed")
        assert 0 == await tick(stack)  # not due again before alerts.interval
        clock.advance(timedelta(minutes=1))
        assert 1 == await tick(stack)
        [alert] = posted_alerts(stack.slack)
        text = alert.text + str(alert.blocks)
        assert "Task Cluster failed" in text and WF_RUNNING in text and STAGING in text
        assert "staging-eu" in text and "v1.28" in text and "Tasks" in text
        assert [ALERT_CANCEL_ACTION_ID, ALERT_WATCH_ACTION_ID] == buttons(alert)
        for _ in range(3):
            clock.advance(timedelta(minutes=1))
            await tick(stack)
        assert 1 == len(posted_alerts(stack.slack))
        metrics = (await stack.http.get(ops_url(stack) + "/metrics")).text
        assert 'cce_bot_alerts_total{condition="failed"} 1.0' in metrics


def ops_url(stack: Stack) -> str:
    assert stack.server is not None
    return stack.server.ops_url


async def test_a_restart_and_a_second_replica_still_post_one(
    sim: RunningSimulator, db_url: str
) -> None:
    """Two replicas look at the same moment, and one restarts: one alert between them."""
    clock = FakeClock(NOW)
    yaml = alerts_yaml(clusters=["prod-eu"])
    async with (
        FakeSlack() as slack,
        running_stack(sim, db_url, yaml, clock=clock, slack=slack) as first,
        running_stack(sim, db_url, yaml, clock=clock, slack=slack) as second,
    ):
        looked = await asyncio.gather(tick(first), tick(second))
        assert [0, 1] == sorted(looked)  # one replica looks at a cluster at a time
        await first.restart_bot()
        clock.advance(timedelta(minutes=1))
        await asyncio.gather(tick(first), tick(second))
        [alert] = posted_alerts(slack)
        assert WF_FAILED in alert.text + str(alert.blocks)


async def test_a_stalled_running_workflow_is_alerted_once(
    sim: RunningSimulator, sqlite_url: str
) -> None:
    """Running, with no change (by the API's own update time) for alerts.stalled_after."""
    clock = FakeClock(NOW + timedelta(minutes=50))  # the workflow last changed about now
    async with alerting(sim, sqlite_url, clock, clusters=["staging-eu"]) as stack:
        await tick(stack)
        clock.advance(timedelta(minutes=2))
        await tick(stack)
        [alert] = posted_alerts(stack.slack)
        assert "no change for" in alert.text and WF_RUNNING in alert.text + str(alert.blocks)


async def test_a_cluster_not_listed_is_never_alerted_on(
    sim: RunningSimulator, sqlite_url: str
) -> None:
    """prod-eu has a failed task, but only staging-eu is listed under alerts.clusters."""
    clock = FakeClock(NOW)
    async with alerting(sim, sqlite_url, clock, clusters=["staging-eu"]) as stack:
        await tick(stack)
        assert [] == posted_alerts(stack.slack)
        assert not any(STAGING not in c.path and "/clusters/" in c.path for c in _gets(sim))


def _gets(sim: RunningSimulator) -> list[Any]:
    return [c for c in sim.world.calls if c.method == "GET" and "upgradeworkflows" in c.path]


async def test_every_cluster_the_bot_can_see_when_none_are_listed(
    sim: RunningSimulator, sqlite_url: str
) -> None:
    """Without alerts.clusters every visible cluster is looked at, one list call each."""
    clock = FakeClock(NOW)
    async with alerting(sim, sqlite_url, clock) as stack:
        sim.world.calls.clear()
        assert 4 == await tick(stack)
        [alert] = posted_alerts(stack.slack)  # prod-eu's failed upgrade; the others are fine
        assert WF_FAILED in alert.text + str(alert.blocks)
        lists = [c for c in _gets(sim) if c.path.endswith("/upgradeworkflows")]
        assert 4 == len(lists) == len(_gets(sim))


async def test_an_api_outage_while_looking_posts_nothing_and_crashes_nothing(
    sim: RunningSimulator, sqlite_url: str
) -> None:
    """The API fails while the job looks: no alert, no crash; the next look after it recovers
    finds the failed upgrade."""
    clock = FakeClock(NOW)
    async with alerting(sim, sqlite_url, clock, clusters=["prod-eu"]) as stack:
        sim.faults.error_rate = 1.0
        assert 1 == await tick(stack)
        assert [] == posted_alerts(stack.slack)
        sim.faults.error_rate = 0.0
        clock.advance(timedelta(minutes=1))
        await tick(stack)
        assert 1 == len(posted_alerts(stack.slack))


async def test_watch_follows_the_upgrade_in_the_alerts_thread(
    sim: RunningSimulator, sqlite_url: str
) -> None:
    """The alert's Watch button: progress replies in the alert's thread; the alert itself is
    left as it was."""
    clock = FakeClock(NOW)
    async with alerting(sim, sqlite_url, clock, clusters=["staging-eu"]) as stack:
        await tick(stack)
        sim.world.set_task_status(WF_RUNNING, "Cluster", "Failed")
        clock.advance(timedelta(minutes=1))
        await tick(stack)
        [alert] = posted_alerts(stack.slack)
        _, name = await stack.click_button(
            alert, ALERT_WATCH_ACTION_ID, _value(alert, ALERT_WATCH_ACTION_ID), user="U0SRE"
        )
        await stack.slack.wait_for("response_url", predicate=lambda c: c.params["_name"] == name)
        assert "alert's thread" in stack.responses(name)[-1]["text"]
        sim.world.set_task_status(WF_RUNNING, "PostCheck", "Running")
        clock.advance(timedelta(seconds=10))
        await stack.bot.watcher.tick()
        thread = [m.text for m in stack.slack.thread(ALERTS, alert.ts)]
        assert "Watching this upgrade" in thread[0]
        assert "*PostCheck*: not started → *Running*" in thread[1]
        assert [] == stack.slack.message(ALERTS, alert.ts).edits  # the alert is left as it is


def _value(message: Message, action_id: str) -> str:
    for block in message.blocks:
        for element in block.get("elements", []):
            if element.get("action_id") == action_id:
                return str(element["value"])
    raise AssertionError(f"no {action_id} button")


async def test_with_the_scheduler_the_alert_comes_within_the_interval(
    sim: RunningSimulator, sqlite_url: str
) -> None:
    """On the wall clock with the scheduler on: the task fails after a first look; the alert is
    in the channel within alerts.interval (10 s) and a few seconds."""
    yaml = alerts_yaml(clusters=["staging-eu"], interval="10s")

    async def looked() -> bool:
        return any(c.path.endswith("/upgradeworkflows") for c in _gets(sim))

    async with running_stack(sim, sqlite_url, yaml, scheduler=True) as stack:
        await eventually(looked, within=10)  # the first look
        assert [] == posted_alerts(stack.slack)
        sim.world.set_task_status(WF_RUNNING, "Cluster", "Failed")
        failed_at = asyncio.get_running_loop().time()

        async def alerted() -> bool:
            return bool(posted_alerts(stack.slack))

        await eventually(alerted, within=10 + 4)
        assert asyncio.get_running_loop().time() - failed_at < 10 + 4
        assert 1 == len(posted_alerts(stack.slack))


async def test_request_cancel_opens_the_modal_filled_in_and_leads_to_an_approval_request(
    sim: RunningSimulator, sqlite_url: str
) -> None:
    """Request cancel… on the failed-upgrade alert: the cancel modal opens with that cluster
    and workflow chosen; the reason is still asked; submitted, the approval request is posted
    in the alert's channel and the usual approval follows (one cancel)."""
    clock = FakeClock(NOW)
    async with alerting(sim, sqlite_url, clock, clusters=["prod-eu"]) as stack:
        await tick(stack)
        [alert] = posted_alerts(stack.slack)
        value = _value(alert, ALERT_CANCEL_ACTION_ID)
        await stack.click_button(alert, ALERT_CANCEL_ACTION_ID, value, user=REQUESTER)
        await stack.slack.wait_for("views.open")
        await stack.slack.wait_for("views.update")  # the workflow select, filled in
        [record] = stack.slack.views.values()
        shown = str(stack.slack.view(record.id).view)
        assert WF_FAILED in shown and "prod-eu" in shown
        refused = await stack.submit(record.id, {REASON_BLOCK_ID: {REASON_ACTION_ID: ""}})
        assert 200 == refused.status_code and REASON_BLOCK_ID in refused.text  # still asked
        response = await stack.submit(
            record.id, {REASON_BLOCK_ID: {REASON_ACTION_ID: "the alert says it failed"}}
        )
        assert 200 == response.status_code

        async def requested() -> bool:
            return bool(requests_posted(stack.slack))

        await eventually(requested)
        [request] = requests_posted(stack.slack)
        assert ALERTS == request.channel and WF_FAILED in request.text + str(request.blocks)
        await stack.click(
            approval_id_of(request), user=LEAD1, message_ts=request.ts, channel=ALERTS
        )

        async def cancelled() -> bool:
            return sim.world.phase(WF_FAILED) == "Cancel"

        await eventually(cancelled)
        assert 1 == sum(1 for c in sim.world.calls if c.method == "PATCH")
