"""A crash mid-flow leaves rows in the store; the next housekeeping run settles them safely.

The crash is reproduced as the state it leaves in the database (what a killed process would
have committed), then the restarted app's own scheduler job runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from bot.domain.approvals import ApprovalState
from bot.simulator import RunningSimulator
from bot.standin.stack import Stack, running_stack
from tests.e2e import (
    CHANNEL,
    LEAD1,
    WF_FAILED,
    FakeClock,
    approval_id_of,
    bot_yaml,
    buttons,
    requests_posted,
    text_of,
)

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
async def stack(sim: RunningSimulator, db_url: str, clock: FakeClock) -> AsyncIterator[Stack]:
    async with running_stack(sim, db_url, bot_yaml(), clock=clock) as running:
        yield running


async def crashed_at(stack: Stack, state: ApprovalState) -> tuple[str, str]:
    """Open a request over HTTP, then leave it as a process killed in `state` would."""
    _, name = await stack.command(f"cancel prod-eu {WF_FAILED} oom", user="U0REQUEST1")
    await stack.slack.wait_for("response_url", predicate=lambda c: c.params["_name"] == name)
    [message] = requests_posted(stack.slack)
    approval_id = approval_id_of(message)
    store = stack.bot.store
    await store.add_approval(approval_id, LEAD1, NOW)
    assert await store.transition(
        approval_id, "pending", "approved", decided_by=LEAD1, decided_at=NOW
    )
    if state == ApprovalState.CANCEL_REQUESTED:
        assert await store.transition(
            approval_id, "approved", "cancel_requested", cancel_sent_at=NOW
        )
    await stack.restart_bot()
    return approval_id, message.ts


def patches(sim: RunningSimulator) -> int:
    return sum(1 for c in sim.world.calls if c.method == "PATCH")


async def test_approved_but_never_sent_is_sent_once(stack: Stack, clock: FakeClock) -> None:
    """Killed after the approval, before the cancel: the restarted bot sends it, once."""
    approval_id, ts = await crashed_at(stack, ApprovalState.APPROVED)
    await stack.bot.expire_tick()
    assert 0 == patches(stack.sim)  # too soon: the approving replica may still be sending
    clock.advance(timedelta(minutes=1))
    await stack.bot.expire_tick()
    await stack.bot.expire_tick()
    assert 1 == patches(stack.sim)
    assert stack.sim.world.phase(WF_FAILED) == "Cancel"
    record = await stack.bot.store.get_request(approval_id)
    assert record is not None and record.state == "cancelled"
    assert "Cancelled" in stack.slack.thread(CHANNEL, ts)[-1].text


async def test_cancel_in_flight_that_took_effect_is_confirmed_by_a_read(
    stack: Stack, clock: FakeClock
) -> None:
    """Killed while the cancel was in flight, and it took effect: cancelled, not re-sent."""
    approval_id, ts = await crashed_at(stack, ApprovalState.CANCEL_REQUESTED)
    stack.sim.world.set_phase(WF_FAILED, "Cancel")
    clock.advance(timedelta(minutes=3))
    await stack.bot.expire_tick()
    assert 0 == patches(stack.sim)
    record = await stack.bot.store.get_request(approval_id)
    assert record is not None and record.state == "cancelled"
    assert "confirmed by reading" in stack.slack.thread(CHANNEL, ts)[-1].text
    assert 1 == await stack.bot.store.count_open_watches()


async def test_cancel_in_flight_that_did_not_arrive_is_reported_not_resent(
    stack: Stack, clock: FakeClock
) -> None:
    """Killed while the cancel was in flight, and it never arrived: failed, told, not re-sent."""
    approval_id, ts = await crashed_at(stack, ApprovalState.CANCEL_REQUESTED)
    clock.advance(timedelta(minutes=3))
    await stack.bot.expire_tick()
    assert 0 == patches(stack.sim)
    record = await stack.bot.store.get_request(approval_id)
    assert record is not None and record.state == "failed"
    reply = stack.slack.thread(CHANNEL, ts)[-1].text
    assert "not sent again" in reply and "Pending" in reply


async def test_request_stored_but_never_posted_is_closed_and_the_requester_told(
    stack: Stack, clock: FakeClock
) -> None:
    """Killed between storing the request and posting it: failed, requester told, nothing sent."""
    from bot.store import NewApproval

    await stack.bot.store.create_request(
        NewApproval(
            approval_id="req-crashed",
            cluster_alias="prod-eu",
            project_id=stack.sim.project_id,
            cluster_id="3f6c2a9e-1b7d-4c1e-9a2f-5d8e7b6a4c01",
            endpoint=stack.sim.url,
            workflow_id=WF_FAILED,
            requester_id="U0REQUEST1",
            channel_id=CHANNEL,
            reason="",
            required=1,
            created_at=NOW,
            expires_at=NOW + timedelta(minutes=30),
        )
    )
    await stack.restart_bot()
    clock.advance(timedelta(minutes=1))
    await stack.bot.expire_tick()
    record = await stack.bot.store.get_request("req-crashed")
    assert record is not None and record.state == "failed"
    [(channel, user, text, _)] = stack.slack.ephemerals
    assert (CHANNEL, "U0REQUEST1") == (channel, user)
    assert "not posted" in text and "Run the command again" in text
    assert 0 == patches(stack.sim)


async def test_cancel_accepted_but_follow_up_cut_short_is_finished(
    stack: Stack, clock: FakeClock
) -> None:
    """Killed right after recording the accepted cancel: the answer is posted, the watch opens."""
    approval_id, ts = await crashed_at(stack, ApprovalState.CANCEL_REQUESTED)
    stack.sim.world.set_phase(WF_FAILED, "Cancel")
    assert await stack.bot.store.transition(
        approval_id, "cancel_requested", "cancelled", outcome="Cancelled. (answer as recorded)"
    )
    await stack.restart_bot()
    clock.advance(timedelta(minutes=1))
    await stack.bot.expire_tick()
    await stack.bot.expire_tick()  # the second run finds the watch and does nothing more
    assert ["Cancelled. (answer as recorded)"] == [m.text for m in stack.slack.thread(CHANNEL, ts)]
    assert 1 == await stack.bot.store.count_open_watches()
    assert 0 == patches(stack.sim)


async def _request_posted(stack: Stack) -> tuple[str, str, str]:
    """Request the cancel over HTTP; (approval id, message ts, the command's response name)."""
    _, name = await stack.command(f"cancel prod-eu {WF_FAILED} oom", user="U0REQUEST1")
    await stack.slack.wait_for("response_url", predicate=lambda c: c.params["_name"] == name)
    [message] = requests_posted(stack.slack)
    return approval_id_of(message), message.ts, name


async def test_request_posted_but_its_message_never_recorded_is_found_and_goes_on(
    stack: Stack, clock: FakeClock
) -> None:
    """Killed after Slack took the request message, before its ts was stored: the restarted
    bot finds the message by its metadata, keeps the request open and the buttons work."""
    approval_id, ts, _ = await _request_posted(stack)
    async with stack.bot.store.engine.begin() as conn:  # the row as the kill left it
        await conn.execute(
            text("UPDATE approval_requests SET message_ts = NULL WHERE approval_id = :a"),
            {"a": approval_id},
        )
    await stack.restart_bot()
    clock.advance(timedelta(minutes=1))
    await stack.bot.expire_tick()
    record = await stack.bot.store.get_request(approval_id)
    assert record is not None and (record.state, record.message_ts) == ("pending", ts)
    [(channel, user, note, _)] = stack.slack.ephemerals
    assert (CHANNEL, "U0REQUEST1") == (channel, user)
    assert "is posted" in note and approval_id in note
    await stack.click(approval_id, user=LEAD1, message_ts=ts)
    await stack.slack.wait_for("chat.postMessage", count=2)
    assert 1 == patches(stack.sim)
    assert len(requests_posted(stack.slack)) == 1
    await stack.bot.expire_tick()
    assert len(stack.slack.ephemerals) == 1


async def test_request_post_whose_answer_was_lost_is_adopted_not_posted_twice(
    stack: Stack,
) -> None:
    """The connection drops after Slack took the request message: one message, request open."""
    stack.slack.drop_next("chat.postMessage")
    approval_id, ts, name = await _request_posted(stack)
    assert f"Approval request `{approval_id}` posted" in stack.responses(name)[-1]["text"]
    record = await stack.bot.store.get_request(approval_id)
    assert record is not None and (record.state, record.message_ts) == ("pending", ts)
    assert len(stack.slack.calls_to("chat.postMessage")) == 1


async def test_request_post_whose_answer_was_lost_without_history_scope_is_closed(
    stack: Stack,
) -> None:
    """The answer is lost and the channel can't be read: closed, and the requester told why."""
    stack.slack.drop_next("chat.postMessage")
    stack.slack.fail_next("conversations.history", "missing_scope")
    _, name = await stack.command(f"cancel prod-eu {WF_FAILED} oom", user="U0REQUEST1")
    await stack.slack.wait_for("response_url", predicate=lambda c: c.params["_name"] == name)
    answer = stack.responses(name)[-1]["text"]
    assert "Slack did not answer" in answer and "Run the command again" in answer
    [message] = requests_posted(stack.slack)
    record = await stack.bot.store.get_request(approval_id_of(message))
    assert record is not None and record.state == "failed"
    _, click = await stack.click(record.approval_id, user=LEAD1, message_ts=message.ts)
    await stack.slack.wait_for("response_url", predicate=lambda c: c.params["_name"] == click)
    assert "nothing changed" in stack.responses(click)[-1]["text"]
    assert 0 == patches(stack.sim)


async def test_rejected_but_the_message_update_cut_short_is_shown_once(
    stack: Stack, clock: FakeClock
) -> None:
    """Killed right after recording a rejection: the restart takes the buttons off, once."""
    approval_id, ts, _ = await _request_posted(stack)
    assert await stack.bot.store.transition(
        approval_id, "pending", "rejected", decided_by=LEAD1, decided_at=NOW,
        outcome=f"Rejected by <@{LEAD1}>.",
    )  # fmt: skip
    await stack.restart_bot()
    assert buttons(stack.slack.message(CHANNEL, ts))  # as the kill left it
    clock.advance(timedelta(minutes=1))
    await stack.bot.expire_tick()
    message = stack.slack.message(CHANNEL, ts)
    assert buttons(message) == [] and "Rejected" in text_of(message)
    updates = len(stack.slack.calls_to("chat.update"))
    await stack.bot.expire_tick()
    assert len(stack.slack.calls_to("chat.update")) == updates
    assert 0 == patches(stack.sim)


async def test_failed_but_its_reply_cut_short_is_posted_once(
    stack: Stack, clock: FakeClock
) -> None:
    """Killed after recording that no cancel was sent, before saying why: said once."""
    approval_id, ts = await crashed_at(stack, ApprovalState.APPROVED)
    reason = ":warning: The workflow is no longer cancellable, so no cancel was sent."
    assert await stack.bot.store.transition(approval_id, "approved", "failed", outcome=reason)
    clock.advance(timedelta(minutes=1))
    await stack.bot.expire_tick()
    await stack.bot.expire_tick()
    assert [reason] == [m.text for m in stack.slack.thread(CHANNEL, ts)]
    assert buttons(stack.slack.message(CHANNEL, ts)) == []
    assert 0 == patches(stack.sim)
