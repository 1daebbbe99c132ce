"""The schema is versioned: migrations build exactly what the code declares, and a database made
by release 0.1.0 (its own schema, with rows) is upgraded in place by `db upgrade` and by `run`,
losing nothing: pending requests stay approvable, open watches resume without reposting, a post
0.1.0 left pending is settled, and the audit log is intact. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from bot.__main__ import main
from bot.simulator import RunningSimulator, build_world, default_scenario, running_simulator
from bot.slack.poster import POST_EVENT_TYPE
from bot.standin import FakeSlack
from bot.standin.stack import SIM_TOKEN, running_stack
from bot.store import Store, create_engine
from bot.store.schema import head, schema_state, upgrade
from bot.store.tables import Base
from tests.conftest import fresh_postgres
from tests.data import schema_0_1_0 as old
from tests.e2e import (
    CHANNEL,
    LEAD1,
    LEAD2,
    PROD,
    REQUESTER,
    STAGING,
    WF_FAILED,
    WF_RUNNING,
    approval_id_of,
    bot_yaml,
    eventually,
    requests_posted,
)

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(params=["sqlite", "postgres"])
async def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with no table at all, of each kind."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    return await fresh_postgres(empty=True)


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    """The default scenario, frozen in time: nothing changes unless a test changes it."""
    world = build_world(default_scenario(), step_seconds=1e9)
    async with running_simulator(world, token=SIM_TOKEN) as running:
        yield running


async def test_migrations_build_the_schema_the_code_declares(empty_db: str) -> None:
    """Upgrading an empty database gives exactly `bot.store.tables`; a second run does nothing."""
    engine = create_engine(empty_db)
    try:
        assert (None, head()) == await upgrade(engine)
        assert (head(), head()) == await upgrade(engine)
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata)
            )
        assert [] == diff
        assert (await schema_state(engine)).current
    finally:
        await engine.dispose()


@dataclass
class Release010:
    """What a 0.1.0 bot left in its database (and in Slack) when it was stopped."""

    pending: str  # a posted request with one of its two approvals
    request_ts: str
    quiet_watch: str  # an open watch whose thread is up to date
    quiet_root: str
    cut_watch: str  # an open watch killed after Slack took a reply, before it was recorded
    cut_root: str
    cut_key: str
    audit_rows: int


async def _post(slack: FakeSlack, text: str, **params: Any) -> str:
    """Post as the bot did (its token, its identity), through the stand-in's Web API."""
    client = AsyncWebClient(token="xoxb-standin", base_url=slack.api_url)
    try:
        response = await client.chat_postMessage(channel=CHANNEL, text=text, **params)
    finally:
        if client.session is not None:
            await client.session.close()
    return str(response["ts"])


async def make_release_010(url: str, sim: RunningSimulator, slack: FakeSlack) -> Release010:
    """Create 0.1.0's schema with its own metadata, and fill it as that release would have."""
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(old.Base.metadata.create_all)
    request_ts = await _post(slack, "Cancel this CCE upgrade? (req-00000000a010)")
    quiet_root = await _post(slack, "Watching upgrade workflow (quiet)")
    cut_root = await _post(slack, "Watching upgrade workflow (cut)")
    cut_key = "w-old0cut:7"  # 0.1.0's keys were `{watch_id}:{version}`
    snap = await _snapshot(sim, STAGING, WF_RUNNING)
    reported = {**snap, "phase": "Pending"}  # the thread told Pending; the workflow is Running
    await _post(
        slack,
        "Workflow phase: Pending → Running",
        thread_ts=cut_root,
        metadata={"event_type": POST_EVENT_TYPE, "event_payload": {"key": cut_key}},
    )
    cut_then = {"last_reported": snap, "lease_until": None}
    rows: list[Any] = [
        old.ApprovalRow(
            approval_id="req-00000000a010",
            state="pending",
            cluster_alias="prod-eu",
            project_id=sim.project_id,
            cluster_id=PROD,
            endpoint=sim.url,
            workflow_id=WF_FAILED,
            requester_id=REQUESTER,
            channel_id=CHANNEL,
            message_ts=request_ts,
            reason="disk pressure",
            required=2,
            summary=json.dumps(await _snapshot(sim, PROD, WF_FAILED)),
            created_at=NOW - timedelta(minutes=5),
            expires_at=NOW + timedelta(minutes=25),
        ),
        old.GivenApprovalRow(
            approval_id="req-00000000a010", user_id=LEAD2, at=NOW - timedelta(minutes=4)
        ),
        _watch("w-old0quiet", sim.url, quiet_root, snap, None),
        _watch(
            "w-old0cut",
            sim.url,
            cut_root,
            reported,
            {"key": cut_key, "text": "x", "then": cut_then},
        ),
    ]
    for action in ("request.opened", "approval.given"):
        rows.append(
            old.AuditRow(
                at=NOW - timedelta(minutes=4),
                approval_id="req-00000000a010",
                actor=REQUESTER,
                action=action,
                workflow_id=WF_FAILED,
                detail="{}",
            )
        )
    async with async_sessionmaker(engine).begin() as session:
        session.add_all(rows)
    await engine.dispose()
    return Release010(
        "req-00000000a010",
        request_ts,
        "w-old0quiet",
        quiet_root,
        "w-old0cut",
        cut_root,
        cut_key,
        2,
    )


def _watch(
    watch_id: str,
    endpoint: str,
    root: str,
    reported: dict[str, Any],
    pending: dict[str, Any] | None,
) -> Any:
    return old.WatchRow(
        watch_id=watch_id,
        state="open",
        approval_id=None,
        cluster_alias="staging-eu",
        project_id="47eb1d64cbeb45cfa01ae20af4f4b563",
        cluster_id=STAGING,
        endpoint=endpoint,
        workflow_id=WF_RUNNING,
        channel_id=CHANNEL,
        thread_ts=root,
        root_ts=root,
        last_reported=json.dumps(reported, sort_keys=True),
        pending_post=json.dumps(pending) if pending else None,
        started_at=NOW - timedelta(minutes=10),
        next_due_at=NOW - timedelta(seconds=1),
        errors=0,
        warned=0,
        version=7 if pending else 3,
    )


async def _snapshot(sim: RunningSimulator, cluster_id: str, workflow_id: str) -> dict[str, Any]:
    from bot.cce.models import WorkflowTask
    from bot.cce.snapshots import snapshot

    return snapshot(WorkflowTask.model_validate(sim.world.workflow(workflow_id))).to_dict()


async def test_db_upgrade_brings_a_0_1_0_database_to_this_version_losing_nothing(
    empty_db: str, sim: RunningSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`cce-upgrade-bot db upgrade`: revision 0001 adopted, then upgraded; rows kept; work named."""
    async with FakeSlack() as slack:
        made = await make_release_010(empty_db, sim, slack)
    monkeypatch.setenv("DATABASE_URL", empty_db)
    assert 0 == await asyncio.to_thread(main, ["db", "upgrade"])
    assert 0 == await asyncio.to_thread(main, ["db", "upgrade"])  # a second run: nothing to do

    store = Store(create_engine(empty_db))
    try:
        assert (await schema_state(store.engine)).current
        rec = await store.requests.get(made.pending)
        assert rec is not None
        assert (rec.state, rec.message_ts, rec.approved_by) == (
            "pending",
            made.request_ts,
            (LEAD2,),
        )
        assert rec.work is None and rec.baseline == rec.summary
        quiet = await store.watches.open_for(WF_RUNNING, CHANNEL, made.quiet_root)
        cut = await store.watches.open_for(WF_RUNNING, CHANNEL, made.cut_root)
        assert quiet is not None and quiet.pending_key is None
        assert cut is not None and cut.pending_key == made.cut_key
        delivery = await store.deliveries.get(made.cut_key)
        assert delivery is not None and delivery.state == "pending"
        assert made.audit_rows == len(await store.audit.read())
        async with store.engine.connect() as conn:
            columns = await conn.run_sync(
                lambda c: {col["name"] for col in inspect(c).get_columns("watches")}
            )
        assert "pending_post" not in columns
    finally:
        await store.dispose()


async def test_run_upgrades_a_0_1_0_database_and_the_flow_goes_on(
    empty_db: str, sim: RunningSimulator
) -> None:
    """Started on a 0.1.0 database (as `run` starts): the pending request is approved with one
    PATCH, the quiet watch posts nothing, the cut reply is found (not posted again), and the
    audit log keeps its old rows first."""
    async with FakeSlack() as slack:
        made = await make_release_010(empty_db, sim, slack)
        posted_before = len(slack.calls_to("chat.postMessage"))
        async with running_stack(sim, empty_db, bot_yaml(), slack=slack) as stack:
            [message] = [m for m in requests_posted(slack) if m.ts == made.request_ts] or [
                slack.message(CHANNEL, made.request_ts)
            ]
            assert "req-00000000a010" == approval_id_of(message)
            await stack.click(made.pending, user=LEAD1, message_ts=made.request_ts)

            async def cancelled() -> bool:
                rec = await stack.bot.store.requests.get(made.pending)
                return rec is not None and rec.state == "cancelled" and rec.work is None

            await eventually(cancelled, within=10)
            assert 1 == sum(1 for c in sim.world.calls if c.method == "PATCH")

            await stack.bot.watcher.tick()
            quiet = [m.text for m in slack.thread(CHANNEL, made.quiet_root)]
            assert [] == quiet  # nothing changed since 0.1.0 last reported: nothing posted
            cut = [m.text for m in slack.thread(CHANNEL, made.cut_root)]
            assert ["Workflow phase: Pending → Running"] == cut  # found, not posted again
            lookups = slack.calls_to("conversations.replies")
            assert [made.cut_root] == [c.params["ts"] for c in lookups]
            # The request's own thread: its outcome, and no other post beyond what the flow says.
            thread = [m.text for m in slack.thread(CHANNEL, made.request_ts)]
            assert 1 == sum("Cancelled" in t for t in thread)
            records = await stack.bot.store.audit.read()
        assert ["request.opened", "approval.given"] == [r.action for r in records[:2]]
        assert {"approval.given", "approval.approved", "cancel.sent", "cancel.accepted"} <= {
            r.action for r in records[2:]
        }
        new_top_level = [
            m for m in slack.messages.values() if m.thread_ts is None and m.ts > made.cut_root
        ]
        assert [] == new_top_level  # no request or root message was posted again
        assert posted_before < len(slack.calls_to("chat.postMessage"))


async def test_two_replicas_starting_together_migrate_once(sim: RunningSimulator) -> None:
    """On PostgreSQL an advisory lock orders two upgrades: both succeed, the data moves once."""
    url = await fresh_postgres(empty=True)
    async with FakeSlack() as slack:
        made = await make_release_010(url, sim, slack)
    engines = [create_engine(url), create_engine(url)]
    try:
        results = await asyncio.gather(*(upgrade(e) for e in engines))
        assert {r[1] for r in results} == {head()}
        assert sorted(r[0] or "" for r in results) == ["0001", head()]
        store = Store(engines[0])
        delivery = await store.deliveries.get(made.cut_key)
        assert delivery is not None and delivery.state == "pending"
        async with store.engine.connect() as conn:
            from bot.store.tables import DeliveryRow

            keys = list(await conn.scalars(select(DeliveryRow.key)))
        assert [made.cut_key] == keys
    finally:
        for engine in engines:
            await engine.dispose()
