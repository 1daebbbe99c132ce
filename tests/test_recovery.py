"""Work a dead process left is taken over once its lease lapses, never before, and finished once.

Each test writes what a process killed at one step would have committed (its rows, leased to a
replica that is gone), then the running bot's own housekeeping job goes on from there. Real kills
of the production process are in tests/test_crash.py; this covers every step on SQLite and
PostgreSQL, with a clock the test moves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from bot.domain.approvals import ApprovalState
from bot.simulator import RunningSimulator
from bot.slack.delivery import REPEAT_NOTE
from bot.slack.poster import POST_EVENT_TYPE
from bot.standin.stack import Stack, running_stack
from bot.store import NewApproval, Work
from bot.store.tables import ApprovalRow, DeliveryRow
from tests.e2e import (
    CHANNEL,
    LEAD1,
    PROD,
    REQUESTER,
    WF_FAILED,
    FakeClock,
    approval_id_of,
    bot_yaml,
    buttons,
    requests_posted,
    text_of,
)

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
DEAD = "dead-replica"
LEASE = timedelta(seconds=10)  # recovery.lease's default
LAPSED = LEASE + timedelta(seconds=1)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
async def stack(sim: RunningSimulator, db_url: str, clock: FakeClock) -> AsyncIterator[Stack]:
    async with running_stack(sim, db_url, bot_yaml(), clock=clock) as running:
        yield running


def ops_url(stack: Stack) -> str:
    assert stack.server is not None
    return stack.server.ops_url


def patches(sim: RunningSimulator) -> int:
    return sum(1 for c in sim.world.calls if c.method == "PATCH")


def thread(stack: Stack, ts: str) -> list[str]:
    return [m.text for m in stack.slack.thread(CHANNEL, ts)]


async def posted_request(stack: Stack) -> tuple[str, str]:
    """Request the cancel over HTTP; (approval id, message ts)."""
    _, name = await stack.command(f"cancel prod-eu {WF_FAILED} oom", user=REQUESTER)
    await stack.slack.wait_for("response_url", predicate=lambda c: c.params["_name"] == name)
    [message] = requests_posted(stack.slack)
    return approval_id_of(message), message.ts


async def write(stack: Stack, approval_id: str, **values: Any) -> None:
    """Put a request's row as a killed process left it (bypassing the bot, as a kill does)."""
    async with stack.bot.store.engine.begin() as conn:
        await conn.execute(
            update(ApprovalRow).where(ApprovalRow.approval_id == approval_id).values(**values)
        )


async def approved_by_dead_replica(stack: Stack) -> tuple[str, str]:
    """A request the dead replica approved (holding the lease on its cancel) and then died."""
    approval_id, ts = await posted_request(stack)
    result = await stack.bot.store.requests.approve(
        approval_id, LEAD1, NOW, owner=DEAD, lease_until=NOW + LEASE
    )
    assert "approved" == result.outcome
    return approval_id, ts


async def takeover(stack: Stack, clock: FakeClock) -> None:
    """The dead replica's lease: held now (nothing happens), lapsed a moment later (taken)."""
    assert 0 == await stack.bot.housekeeping()
    clock.advance(LAPSED)
    assert 1 == await stack.bot.housekeeping()


async def test_approved_but_never_sent_is_sent_once_after_the_lease_lapses(
    stack: Stack, clock: FakeClock
) -> None:
    """Killed after the approval, before the cancel: the lease holds it, then it is sent once."""
    approval_id, ts = await approved_by_dead_replica(stack)
    await takeover(stack, clock)
    assert 1 == patches(stack.sim)
    assert stack.sim.world.phase(WF_FAILED) == "Cancel"
    rec = await stack.bot.store.requests.get(approval_id)
    assert rec is not None and (rec.state, rec.work, rec.lease_owner) == ("cancelled", None, None)
    assert 1 == sum("Cancelled" in t for t in thread(stack, ts))
    assert 1 == await stack.bot.store.watches.count_open()
    await stack.bot.housekeeping()
    assert 1 == patches(stack.sim)


async def _cancel_in_flight(stack: Stack) -> tuple[str, str]:
    approval_id, ts = await approved_by_dead_replica(stack)
    assert await stack.bot.store.requests.transition(
        approval_id, "approved", "cancel_requested", owner=DEAD, cancel_sent_at=NOW,
        work=Work.SETTLE,
    )  # fmt: skip
    return approval_id, ts


async def test_cancel_in_flight_that_took_effect_is_confirmed_by_a_read(
    stack: Stack, clock: FakeClock
) -> None:
    """Killed while the cancel was in flight, and it took effect: cancelled, never re-sent."""
    approval_id, ts = await _cancel_in_flight(stack)
    stack.sim.world.set_phase(WF_FAILED, "Cancel")
    await takeover(stack, clock)
    assert 0 == patches(stack.sim)
    rec = await stack.bot.store.requests.get(approval_id)
    assert rec is not None and rec.state == "cancelled"
    assert "confirmed by reading" in thread(stack, ts)[0]
    assert 1 == await stack.bot.store.watches.count_open()


async def test_cancel_in_flight_that_did_not_arrive_is_reported_not_resent(
    stack: Stack, clock: FakeClock
) -> None:
    """Killed while the cancel was in flight, and it never arrived: failed, told, not re-sent."""
    approval_id, ts = await _cancel_in_flight(stack)
    await takeover(stack, clock)
    assert 0 == patches(stack.sim)
    rec = await stack.bot.store.requests.get(approval_id)
    assert rec is not None and rec.state == "failed"
    [reply] = thread(stack, ts)
    assert "not sent again" in reply and "Pending" in reply
    assert [] == buttons(stack.slack.message(CHANNEL, ts))


async def test_request_stored_but_never_posted_is_posted_once_and_the_requester_told(
    stack: Stack, clock: FakeClock
) -> None:
    """Killed between storing the request and posting it: the flow goes on, the message is
    posted (once), and the requester is told it took a moment."""
    await stack.bot.store.requests.create(
        NewApproval(
            approval_id="req-0000000c0a5e",
            cluster_alias="prod-eu",
            project_id=stack.sim.project_id,
            cluster_id=PROD,
            endpoint=stack.sim.url,
            workflow_id=WF_FAILED,
            requester_id=REQUESTER,
            channel_id=CHANNEL,
            reason="oom",
            required=1,
            created_at=NOW,
            expires_at=NOW + timedelta(minutes=30),
        ),
        owner=DEAD,
        lease_until=NOW + LEASE,
    )
    await takeover(stack, clock)
    [message] = requests_posted(stack.slack)
    assert "req-0000000c0a5e" == approval_id_of(message)
    rec = await stack.bot.store.requests.get("req-0000000c0a5e")
    assert rec is not None and (rec.state, rec.message_ts, rec.work) == (
        "pending",
        message.ts,
        None,
    )
    [(channel, user, note, _)] = stack.slack.ephemerals
    assert (CHANNEL, REQUESTER) == (channel, user) and "is posted" in note
    assert 0 == patches(stack.sim)


async def _posted_but_not_recorded(stack: Stack) -> tuple[str, str]:
    """Slack took the request message; the process died before its answer arrived."""
    approval_id, ts = await posted_request(stack)
    await write(stack, approval_id, message_ts=None, work=Work.POST, lease_owner=DEAD,
                lease_until=NOW + LEASE)  # fmt: skip
    async with stack.bot.store.engine.begin() as conn:
        await conn.execute(
            update(DeliveryRow)
            .where(DeliveryRow.key == approval_id)
            .values(state="pending", ts=None, owner=DEAD, owner_until=NOW + LEASE)
        )
    return approval_id, ts


async def test_request_posted_but_never_recorded_is_found_and_the_flow_goes_on(
    stack: Stack, clock: FakeClock
) -> None:
    """The restarted bot finds the message by its key among its own posts: one message, the
    request open, the requester told, and the approval goes through once."""
    approval_id, ts = await _posted_but_not_recorded(stack)
    await takeover(stack, clock)
    rec = await stack.bot.store.requests.get(approval_id)
    assert rec is not None and (rec.state, rec.message_ts) == ("pending", ts)
    assert 1 == len(requests_posted(stack.slack))
    [(_, user, note, _)] = stack.slack.ephemerals
    assert REQUESTER == user and "is posted" in note
    await stack.click(approval_id, user=LEAD1, message_ts=ts)
    await stack.slack.wait_for("chat.postMessage", count=2)
    assert 1 == patches(stack.sim)


async def test_without_a_history_scope_the_request_is_posted_again_marked(
    stack: Stack, clock: FakeClock
) -> None:
    """The channel can't be read: one rule everywhere, it is sent again, marked as a repeat,
    and the flow goes on on the new message."""
    approval_id, first_ts = await _posted_but_not_recorded(stack)
    stack.slack.scopes = "commands,chat:write,usergroups:read"  # no channels:history
    await takeover(stack, clock)
    first, again = requests_posted(stack.slack)
    assert REPEAT_NOTE in text_of(again) and REPEAT_NOTE not in text_of(first)
    rec = await stack.bot.store.requests.get(approval_id)
    assert rec is not None and rec.message_ts == again.ts != first_ts
    await stack.click(approval_id, user=LEAD1, message_ts=again.ts)
    await stack.slack.wait_for("chat.postMessage", count=3)
    assert 1 == patches(stack.sim)


async def test_a_click_adopts_the_message_whose_ts_was_never_stored(
    stack: Stack, clock: FakeClock
) -> None:
    """Before anyone took the work over, a lead clicks Approve on the message: the bot adopts
    it from the click; the cancel is sent once, the message is updated, the thread told, and
    nothing is posted again afterwards."""
    approval_id, ts = await _posted_but_not_recorded(stack)
    await stack.click(approval_id, user=LEAD1, message_ts=ts)
    await stack.slack.wait_for("chat.postMessage", count=2)
    assert 1 == patches(stack.sim)
    assert [] == buttons(stack.slack.message(CHANNEL, ts))
    assert 1 == sum("Cancelled" in t for t in thread(stack, ts))
    clock.advance(LAPSED)
    await stack.bot.housekeeping()
    assert 1 == len(requests_posted(stack.slack))


async def test_lost_answer_to_the_request_post_is_settled_at_once(stack: Stack) -> None:
    """The connection drops after Slack took the request message: found at once, one message."""
    stack.slack.drop_next("chat.postMessage")
    approval_id, ts = await posted_request(stack)
    rec = await stack.bot.store.requests.get(approval_id)
    assert rec is not None and (rec.state, rec.message_ts, rec.work) == ("pending", ts, None)
    assert 1 == len(stack.slack.calls_to("chat.postMessage"))


async def test_rejected_but_the_message_update_cut_short_is_shown_once(
    stack: Stack, clock: FakeClock
) -> None:
    """Killed right after recording a rejection: the buttons come off once, after the lapse."""
    approval_id, ts = await posted_request(stack)
    assert await stack.bot.store.requests.transition(
        approval_id, "pending", "rejected", decided_by=LEAD1, decided_at=NOW,
        outcome=f"Rejected by <@{LEAD1}>.", work=Work.SHOW, lease_owner=DEAD,
        lease_until=NOW + LEASE,
    )  # fmt: skip
    assert buttons(stack.slack.message(CHANNEL, ts))  # as the kill left it
    await takeover(stack, clock)
    message = stack.slack.message(CHANNEL, ts)
    assert [] == buttons(message) and "Rejected" in text_of(message)
    updates = len(stack.slack.calls_to("chat.update"))
    await stack.bot.housekeeping()
    assert updates == len(stack.slack.calls_to("chat.update"))
    assert 0 == patches(stack.sim)


async def test_failed_but_its_reply_cut_short_is_posted_once(
    stack: Stack, clock: FakeClock
) -> None:
    """Killed after recording that no cancel was sent, before saying why: said once."""
    approval_id, ts = await approved_by_dead_replica(stack)
    reason = ":warning: The workflow is no longer cancellable, so no cancel was sent."
    assert await stack.bot.store.requests.transition(
        approval_id, "approved", "failed", owner=DEAD, outcome=reason, work=Work.SHOW
    )
    await takeover(stack, clock)
    await stack.bot.housekeeping()
    assert [reason] == thread(stack, ts)
    assert [] == buttons(stack.slack.message(CHANNEL, ts))
    assert 0 == patches(stack.sim)


async def test_cancel_accepted_but_follow_up_cut_short_is_finished_once(
    stack: Stack, clock: FakeClock
) -> None:
    """Killed right after recording the accepted cancel: its reply, what changed, the watch."""
    approval_id, ts = await _cancel_in_flight(stack)
    stack.sim.world.set_phase(WF_FAILED, "Cancel")
    stack.sim.world.set_task_status(WF_FAILED, "Rollback", "Running")
    rec = await stack.bot.store.requests.get(approval_id)
    assert rec is not None
    from bot.cce.models import WorkflowTask
    from bot.cce.snapshots import snapshot

    answer = snapshot(WorkflowTask.model_validate(stack.sim.world.workflow(WF_FAILED))).to_dict()
    assert await stack.bot.store.requests.transition(
        approval_id, "cancel_requested", "cancelled", owner=DEAD,
        outcome="Cancelled. (answer as recorded)", answer=answer, summary=answer,
        work=Work.FOLLOW_UP,
    )  # fmt: skip
    await takeover(stack, clock)
    await stack.bot.housekeeping()
    told = thread(stack, ts)
    assert "Cancelled. (answer as recorded)" == told[0]
    assert "*Rollback*: not started → *Running*" in told[1]
    assert 2 == len(told)
    assert 1 == await stack.bot.store.watches.count_open()
    assert 0 == patches(stack.sim)


async def test_a_step_that_cannot_progress_is_given_up_once(
    stack: Stack, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The API stays down while an unanswered cancel is settled: backing off, then after
    recovery.give_up_after one log event, one metric, one audit record and a word to the
    requester; nothing is retried after that."""
    approval_id, _ = await _cancel_in_flight(stack)
    stack.sim.faults.error_rate = 1.0
    clock.advance(LAPSED)
    await stack.bot.housekeeping()  # taken over; the read fails: tried again later
    rec = await stack.bot.store.requests.get(approval_id)
    assert rec is not None and rec.state == "cancel_requested" and rec.attempts == 1
    for _ in range(12):  # an hour and a bit, in steps the back-off allows
        clock.advance(timedelta(minutes=6))
        await stack.bot.housekeeping()
    rec = await stack.bot.store.requests.get(approval_id)
    assert rec is not None and (rec.state, rec.work) == ("failed", None)
    assert "gave up" in (rec.outcome or "") and "could not be confirmed" in (rec.outcome or "")
    assert 1 == sum(r.message == "recovery.gave_up" for r in caplog.records)
    audit = [r.action for r in await stack.bot.store.audit.read(approval_id=approval_id)]
    assert 1 == audit.count("recovery.gave_up")
    assert (
        b'cce_bot_recovery_given_up_total{work="settle"} 1.0'
        in (await stack.http.get(ops_url(stack) + "/metrics")).content
    )
    [(_, user, note, _)] = stack.slack.ephemerals
    assert REQUESTER == user and "gave up" in note
    reads = len(stack.sim.world.calls)
    clock.advance(timedelta(hours=1))
    await stack.bot.housekeeping()
    assert reads == len(stack.sim.world.calls)
    assert 0 == patches(stack.sim)
    assert ApprovalState.FAILED == rec.state


async def test_a_key_in_another_apps_message_is_not_taken_for_the_bots_post(
    stack: Stack, clock: FakeClock
) -> None:
    """The request's post never reached Slack, but another app's message carries its key: the
    bot trusts only its own messages, so it posts the request (once) instead of adopting it."""
    approval_id, ts = await _posted_but_not_recorded(stack)
    del stack.slack.messages[(CHANNEL, ts)]  # Slack never took it
    metadata = {"event_type": POST_EVENT_TYPE, "event_payload": {"key": approval_id}}
    spoof = stack.slack.add_foreign_message(CHANNEL, f"{approval_id} (not ours)", metadata=metadata)
    await takeover(stack, clock)
    rec = await stack.bot.store.requests.get(approval_id)
    assert rec is not None and rec.message_ts not in (None, spoof.ts)
    [message] = [m for m in requests_posted(stack.slack) if m.by_the_bot]
    assert rec.message_ts == message.ts
