"""The approval flow end to end: signed Slack requests in, the fake Slack and simulator checked."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.simulator import RunningSimulator
from bot.slack.blocks import APPROVE_ACTION_ID, REJECT_ACTION_ID
from bot.standin.stack import Stack, running_stack
from tests.e2e import (
    CHANNEL,
    GROUP_LEAD,
    LEAD1,
    LEAD2,
    OUTSIDER,
    REQUESTER,
    WF_CRITICAL,
    WF_DONE,
    WF_FAILED,
    WF_RUNNING,
    approval_id_of,
    bot_yaml,
    buttons,
    requests_posted,
    text_of,
)


@pytest.fixture
async def stack(sim: RunningSimulator, sqlite_url: str) -> AsyncIterator[Stack]:
    async with running_stack(sim, sqlite_url, bot_yaml()) as running:
        running.slack.usergroups = {"S0SRELEADS": [GROUP_LEAD]}
        yield running


def patches(sim: RunningSimulator) -> list[Any]:
    return [c for c in sim.world.calls if c.method == "PATCH"]


async def open_request(
    stack: Stack, text: str = f"cancel prod-eu {WF_FAILED} node pool stuck", user: str = REQUESTER
) -> tuple[Any, str]:
    response, name = await stack.command(text, user=user)
    assert response.status_code == 200
    await stack.slack.wait_for("response_url", predicate=lambda c: c.params["_name"] == name)
    posted = requests_posted(stack.slack)
    assert posted, f"no request posted; the requester saw {stack.responses(name)}"
    return posted[-1], name


async def test_happy_path_one_lead_approves_and_one_cancel_is_sent(stack: Stack) -> None:
    """Request → buttons → a lead approves → one PATCH with the right body → message and thread."""
    message, name = await open_request(stack)
    assert [APPROVE_ACTION_ID, REJECT_ACTION_ID] == buttons(message)
    shown = text_of(message)
    assert "prod-eu" in shown and WF_FAILED in shown and "node pool stuck" in shown
    assert f"<@{REQUESTER}>" in shown and "Failed" in shown
    assert "req-" in stack.responses(name)[-1]["text"]

    response, _ = await stack.click(approval_id_of(message), user=LEAD1, message_ts=message.ts)
    assert response.status_code == 200
    await stack.slack.wait_for("chat.postMessage", count=2)  # request + thread reply

    [patch] = patches(stack.sim)
    assert patch.path.endswith(
        f"/clusters/3f6c2a9e-1b7d-4c1e-9a2f-5d8e7b6a4c01/operation/upgradeworkflows/{WF_FAILED}"
    )
    assert json.loads(patch.body) == {"status": {"phase": "Cancel"}}
    assert stack.sim.world.phase(WF_FAILED) == "Cancel"

    final = stack.slack.message(CHANNEL, message.ts)
    assert [] == buttons(final)
    assert "cancelled" in text_of(final).lower() and f"<@{LEAD1}>" in text_of(final)
    [reply] = stack.slack.thread(CHANNEL, message.ts)
    assert "Cancel" in reply.text and "request id" in reply.text


async def test_requester_and_outsider_cannot_approve(stack: Stack) -> None:
    """Self-approval (a lead's own request) and a non-approver's click change nothing."""
    message, _ = await open_request(stack, user=LEAD1)
    approval_id = approval_id_of(message)
    _, own = await stack.click(approval_id, user=LEAD1, message_ts=message.ts)
    _, other = await stack.click(approval_id, user=OUTSIDER, message_ts=message.ts)
    await stack.slack.wait_for("response_url", count=3)  # the command's answer + two refusals
    assert "cannot approve it yourself" in stack.responses(own)[-1]["text"]
    assert "not an approver" in stack.responses(other)[-1]["text"]
    assert stack.responses(own)[-1]["response_type"] == "ephemeral"
    assert [] == patches(stack.sim)
    assert buttons(stack.slack.message(CHANNEL, message.ts))


async def test_usergroup_member_may_approve(stack: Stack) -> None:
    """Members of a listed user group are approvers (resolved with usergroups.users.list)."""
    message, _ = await open_request(stack)
    await stack.click(approval_id_of(message), user=GROUP_LEAD, message_ts=message.ts)
    await stack.slack.wait_for("chat.postMessage", count=2)
    assert 1 == len(patches(stack.sim))
    assert stack.slack.calls_to("usergroups.users.list")


async def test_reject_ends_the_request(stack: Stack) -> None:
    """One rejection ends it: buttons gone, no cancel, a later approve is told who decided."""
    message, _ = await open_request(stack)
    approval_id = approval_id_of(message)
    await stack.click(approval_id, user=LEAD1, message_ts=message.ts, approve=False)
    await stack.slack.wait_for("chat.update")
    final = stack.slack.message(CHANNEL, message.ts)
    assert [] == buttons(final) and "rejected" in text_of(final).lower()
    _, late = await stack.click(approval_id, user=LEAD2, message_ts=message.ts)
    await stack.slack.wait_for("response_url", predicate=lambda c: c.params["_name"] == late)
    assert f"already rejected by <@{LEAD1}>" in stack.responses(late)[-1]["text"]
    assert [] == patches(stack.sim)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"cancel staging-eu {WF_RUNNING}", "phase Running"),
        (f"cancel dev-eu {WF_DONE}", "phase Success"),
        (f"cancel qa-eu {WF_CRITICAL}", "critical path"),
    ],
)
async def test_not_cancellable_at_request_time(stack: Stack, text: str, expected: str) -> None:
    """No request message; the requester gets the blocking rule, ephemerally."""
    _, name = await stack.command(text)
    await stack.slack.wait_for("response_url", predicate=lambda c: c.params["_name"] == name)
    answer = stack.responses(name)[-1]
    assert expected in answer["text"] and "no request was opened" in answer["text"]
    assert answer["response_type"] == "ephemeral"
    assert [] == requests_posted(stack.slack)
    assert [] == patches(stack.sim)


async def test_became_uncancellable_before_approval(stack: Stack) -> None:
    """The re-read before the cancel finds the workflow running again: no cancel is sent."""
    message, _ = await open_request(stack)
    stack.sim.world.set_task_status(WF_FAILED, "Cluster", "Running")
    stack.sim.world.set_phase(WF_FAILED, "Running")
    await stack.click(approval_id_of(message), user=LEAD1, message_ts=message.ts)
    await stack.slack.wait_for("chat.postMessage", count=2)
    [reply] = stack.slack.thread(CHANNEL, message.ts)
    assert "no longer cancellable" in reply.text and "no cancel was sent" in reply.text
    assert "failed" in text_of(stack.slack.message(CHANNEL, message.ts)).lower()
    assert [] == patches(stack.sim)


async def test_api_error_on_cancel_shows_code_and_message(stack: Stack) -> None:
    """The API refusing the cancel: the thread shows its error_code, error_msg and request id."""
    message, _ = await open_request(stack)
    # The re-read succeeds (GET), then the PATCH is refused with a 409 error body.
    original = stack.sim.world.cancel_workflow

    def refuse(*args: Any, **kwargs: Any) -> Any:
        from bot.simulator import WorldError

        raise WorldError(409, "CCE.01409999", "Another operation is in progress")

    stack.sim.world.cancel_workflow = refuse  # type: ignore[method-assign]
    try:
        await stack.click(approval_id_of(message), user=LEAD1, message_ts=message.ts)
        await stack.slack.wait_for("chat.postMessage", count=2)
    finally:
        stack.sim.world.cancel_workflow = original  # type: ignore[method-assign]
    [reply] = stack.slack.thread(CHANNEL, message.ts)
    assert "CCE.01409999" in reply.text and "Another operation is in progress" in reply.text
    assert "request id" in reply.text
    assert "Traceback" not in reply.text


async def test_quorum_of_two_needs_two_distinct_leads(
    sim: RunningSimulator, sqlite_url: str
) -> None:
    """With required: 2, one approval (even clicked twice) is not enough; a second lead is."""
    async with running_stack(sim, sqlite_url, bot_yaml(approval={"required": 2})) as stack:
        message, _ = await open_request(stack)
        approval_id = approval_id_of(message)
        _, first = await stack.click(approval_id, user=LEAD1, message_ts=message.ts)
        await stack.slack.wait_for("response_url", predicate=lambda c: c.params["_name"] == first)
        assert "1 of 2" in stack.responses(first)[-1]["text"]
        _, again = await stack.click(approval_id, user=LEAD1, message_ts=message.ts)
        await stack.slack.wait_for("response_url", predicate=lambda c: c.params["_name"] == again)
        assert "already approved" in stack.responses(again)[-1]["text"]
        assert [] == patches(sim)
        await stack.click(approval_id, user=LEAD2, message_ts=message.ts)
        await stack.slack.wait_for("chat.postMessage", count=2)
        assert 1 == len(patches(sim))
        final = text_of(stack.slack.message(CHANNEL, message.ts))
        assert f"<@{LEAD1}>" in final and f"<@{LEAD2}>" in final


async def test_concurrent_approvals_send_exactly_one_cancel(
    sim: RunningSimulator, db_url: str
) -> None:
    """20 leads clicking at once (SQLite and PostgreSQL): exactly one PATCH reaches the API."""
    leads = [f"U0LEAD{i:02d}" for i in range(20)]
    async with running_stack(sim, db_url, bot_yaml(approvers={"users": leads})) as stack:
        message, _ = await open_request(stack)
        approval_id = approval_id_of(message)
        results = await asyncio.gather(
            *(stack.click(approval_id, user=u, message_ts=message.ts) for u in leads)
        )
        assert all(r.status_code == 200 for r, _ in results)
        await stack.slack.wait_for("chat.postMessage", count=2, timeout=15)
        await stack.slack.wait_for("response_url", count=1 + 19, timeout=15)
        assert 1 == len(patches(sim))
        told = [stack.responses(n)[-1]["text"] for _, n in results if stack.responses(n)]
        assert 19 == len(told) and all("already" in t for t in told)


async def test_expiry_removes_the_buttons(sim: RunningSimulator, sqlite_url: str) -> None:
    """Past expires_after the request expires: message updated, no buttons, a click is refused."""
    from datetime import UTC, datetime, timedelta

    now = [datetime(2026, 12, 1, 8, 0, tzinfo=UTC)]
    yaml = bot_yaml(approval={"expires_after": "30m"})
    async with running_stack(sim, sqlite_url, yaml, clock=lambda: now[0]) as stack:
        message, _ = await open_request(stack)
        now[0] += timedelta(minutes=31)
        assert 1 == await stack.bot.parts.decisions.expire_due()  # what the APScheduler job runs
        final = stack.slack.message(CHANNEL, message.ts)
        assert [] == buttons(final) and "expired" in text_of(final).lower()
        _, late = await stack.click(approval_id_of(message), user=LEAD1, message_ts=message.ts)
        await stack.slack.wait_for("response_url", predicate=lambda c: c.params["_name"] == late)
        assert "already expired" in stack.responses(late)[-1]["text"]
        assert [] == patches(sim)


async def test_restart_between_request_and_approval(sim: RunningSimulator, db_url: str) -> None:
    """The pending request survives a restart of the app and still works."""
    async with running_stack(sim, db_url, bot_yaml()) as stack:
        message, _ = await open_request(stack)
        await stack.restart_bot()
        await stack.click(approval_id_of(message), user=LEAD1, message_ts=message.ts)
        await stack.slack.wait_for("chat.postMessage", count=2)
        assert 1 == len(patches(sim))
        assert sim.world.phase(WF_FAILED) == "Cancel"


async def test_a_failed_usergroup_lookup_is_not_repeated_for_every_click(stack: Stack) -> None:
    """usergroups.users.list is rate-limited: after a failure, clicks don't each call it again.
    With no membership known, nobody is decided about: each clicker is told to try again."""
    message, _ = await open_request(stack)
    approval_id = approval_id_of(message)
    stack.slack.fail_next("usergroups.users.list", error="ratelimited")
    names = []
    for _ in range(3):
        _, name = await stack.click(approval_id, user=OUTSIDER, message_ts=message.ts)
        await stack.slack.wait_for(
            "response_url", predicate=lambda c, n=name: c.params["_name"] == n
        )
        names.append(name)
    assert 1 == len(stack.slack.calls_to("usergroups.users.list"))
    assert all("Try again in a minute" in stack.responses(n)[-1]["text"] for n in names)
    assert [] == patches(stack.sim)


async def test_a_click_past_expiry_records_nothing_and_says_so(
    sim: RunningSimulator, db_url: str
) -> None:
    """Approve after the request's time but before the expiry job ran: the same conditional
    update refuses it, the clicker is told, no approval is recorded and no cancel is sent."""
    from datetime import UTC, datetime, timedelta

    now = [datetime(2026, 12, 1, 8, 0, tzinfo=UTC)]
    yaml = bot_yaml(approval={"expires_after": "30m"})
    async with running_stack(sim, db_url, yaml, clock=lambda: now[0]) as stack:
        message, _ = await open_request(stack)
        now[0] += timedelta(minutes=30, seconds=1)
        _, late = await stack.click(approval_id_of(message), user=LEAD1, message_ts=message.ts)
        await stack.slack.wait_for("response_url", predicate=lambda c: c.params["_name"] == late)
        assert "expired" in stack.responses(late)[-1]["text"]
        rec = await stack.bot.store.requests.get(approval_id_of(message))
        assert rec is not None and rec.state == "expired" and rec.approved_by == ()
        assert [] == patches(sim)


async def test_a_click_from_a_channel_outside_the_allow_list_is_refused(
    sim: RunningSimulator, sqlite_url: str
) -> None:
    """A click from a channel the config does not allow is refused like a command there would
    be: the clicker is told, nothing is recorded, no cancel is sent."""
    async with running_stack(sim, sqlite_url, bot_yaml(channels=[CHANNEL])) as stack:
        message, _ = await open_request(stack)
        approval_id = approval_id_of(message)
        _, name = await stack.click(
            approval_id, user=LEAD1, message_ts=message.ts, channel="C0ELSEWHERE"
        )
        await stack.slack.wait_for("response_url", predicate=lambda c: c.params["_name"] == name)
        assert "not enabled in this channel" in stack.responses(name)[-1]["text"]
        rec = await stack.bot.store.requests.get(approval_id)
        assert rec is not None and (rec.state, rec.approved_by) == ("pending", ())
        assert [] == patches(sim)
        assert buttons(stack.slack.message(CHANNEL, message.ts))
