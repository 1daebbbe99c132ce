"""The schema: a database made by an earlier version gains the columns added since (and the
values its rows need in them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import inspect, text

from bot.store import NewApproval, NewWatch, Store, create_engine

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _watch() -> NewWatch:
    return NewWatch(
        watch_id="w-1",
        approval_id=None,
        cluster_alias="prod-eu",
        project_id="0" * 32,
        cluster_id="3f6c2a9e-1b7d-4c1e-9a2f-5d8e7b6a4c01",
        endpoint="https://cce.example.com",
        workflow_id="8a1d4e2f-6b3c-4f7a-9e1d-2c5b8a7f3e01",
        channel_id="C0INCIDENT",
        thread_ts="1700000000.000100",
        root_ts="1700000000.000100",
        last_reported={"phase": "Running"},
        started_at=NOW,
        next_due_at=NOW,
    )


async def test_a_database_without_the_pending_post_column_gains_it_and_keeps_its_rows(
    db_url: str,
) -> None:
    old = Store(create_engine(db_url))
    try:
        await old.create_schema()
        await old.create_watch(_watch())
        async with old.engine.begin() as conn:  # as the previous release made it
            await conn.execute(text("ALTER TABLE watches DROP COLUMN pending_post"))
    finally:
        await old.dispose()

    store = Store(create_engine(db_url))
    try:
        await store.create_schema()
        async with store.engine.connect() as conn:
            names = await conn.run_sync(
                lambda c: {col["name"] for col in inspect(c).get_columns("watches")}
            )
        assert "pending_post" in names
        [watch] = await store.claim_due("r1", NOW, NOW + timedelta(seconds=60), 10)
        assert watch.last_reported == {"phase": "Running"} and watch.pending_post is None
        pending = {"key": "w-1:1", "text": "a reply", "then": {}}
        assert await store.advance_watch("w-1", "r1", watch.version, pending_post=pending)
        [again] = await store.claim_due("r2", NOW + timedelta(minutes=2), NOW, 10)
        assert again.pending_post == pending
        await store.create_schema()  # a second start changes nothing
    finally:
        await store.dispose()


async def test_requests_an_earlier_version_ended_are_not_shown_again_after_the_upgrade(
    db_url: str,
) -> None:
    old = Store(create_engine(db_url))
    try:
        await old.create_schema()
        await old.create_request(
            NewApproval(
                approval_id="req-old",
                cluster_alias="prod-eu",
                project_id="0" * 32,
                cluster_id="3f6c2a9e-1b7d-4c1e-9a2f-5d8e7b6a4c01",
                endpoint="https://cce.example.com",
                workflow_id="8a1d4e2f-6b3c-4f7a-9e1d-2c5b8a7f3e01",
                requester_id="U0REQUEST1",
                channel_id="C0INCIDENT",
                reason="",
                required=1,
                created_at=NOW,
                expires_at=NOW + timedelta(minutes=30),
            )
        )
        await old.set_message_ts("req-old", "1700000000.000100")
        assert await old.transition("req-old", "pending", "rejected", decided_at=NOW)
        async with old.engine.begin() as conn:
            await conn.execute(text("ALTER TABLE approval_requests DROP COLUMN shown_at"))
    finally:
        await old.dispose()

    store = Store(create_engine(db_url))
    try:
        await store.create_schema()
        assert await store.unshown(["rejected"], NOW - timedelta(hours=3)) == []
        record = await store.get_request("req-old")
        assert record is not None and record.shown_at == NOW
    finally:
        await store.dispose()
