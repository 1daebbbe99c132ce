"""The alerts job (SPEC §10.3): the bot notices first.

Every `alerts.interval` each listed cluster (all the bot can see when `alerts.clusters` is
absent) is looked at with one list call, shared with the watcher's reads and inside the request
budget (background priority). A failed task of an unsettled workflow, or a running workflow with
no change for `alerts.stalled_after`, is alerted once per workflow and condition, ever: the
alert is written down (its primary key decides) before it is posted through the one delivery
path, so restarts and replicas post it once. One replica looks at a cluster at a time (a lease).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.cce.clusters import ClusterDirectory
from bot.cce.errors import CCEError
from bot.cce.found import ClusterLookupError, FoundCluster
from bot.cce.models import WorkflowTask, parse_api_time
from bot.cce.snapshots import snapshot
from bot.config import AlertsConfig
from bot.domain.alerts import Finding, findings
from bot.domain.delivery import NewDelivery
from bot.domain.snapshot import Snapshot
from bot.metrics import Metrics
from bot.slack.alerts import AlertTarget, alert_message
from bot.slack.delivery import Delivery, DeliveryBusy, DeliveryUncertain
from bot.slack.poster import SlackPostError
from bot.store.alerts import AlertRecord, AlertStore
from bot.watch.reads import ClusterReads

__all__ = ["Alerts"]

logger = logging.getLogger(__name__)


class Alerts:
    def __init__(
        self,
        *,
        config: AlertsConfig,
        directory: ClusterDirectory,
        reads: ClusterReads,
        alerts: AlertStore,
        delivery: Delivery,
        clock: Callable[[], datetime],
        owner: str,
        lease: timedelta,
        give_up_after: timedelta,
        metrics: Metrics,
    ) -> None:
        self._config = config
        self._directory = directory
        self._reads = reads
        self._alerts = alerts
        self._delivery = delivery
        self._clock = clock
        self._owner = owner
        self._lease = lease
        self._give_up_after = give_up_after
        self._metrics = metrics
        self._running = asyncio.Lock()

    async def tick(self) -> int:
        """Look at every cluster that is due and not being looked at; how many were. Never
        raises: a failure is logged and the cluster is looked at again next time."""
        async with self._running:
            try:
                return await self._tick()
            except Exception:
                logger.exception("alerts.tick.failed")
                return 0

    async def drain(self) -> None:
        """Wait for a run in progress to finish (before the clients and store are closed)."""
        async with self._running:
            return

    async def _tick(self) -> int:
        clusters = {_key(c): c for c in await self._clusters()}
        now = self._clock()
        claimed = await self._alerts.claim_clusters(
            list(clusters), self._owner, now, now + self._lease
        )
        for key in claimed:
            try:
                await self._look_at(clusters[key])
            finally:
                next_due = self._clock() + self._config.interval
                await self._alerts.release_cluster(key, self._owner, next_due)
        return len(claimed)

    async def _clusters(self) -> list[FoundCluster]:
        """The clusters alerts are for: those listed (by alias, name or id), else every one."""
        if self._config.clusters is None:
            listing = await self._directory.clusters(background=True)
            for unlisted in listing.unlisted:
                logger.warning(
                    "alerts.project.unlisted",
                    extra={"status": unlisted.reason, "request_id": unlisted.request_id},
                )
            return list(listing.clusters)
        found = []
        for text in self._config.clusters:
            try:
                found.append(await self._directory.resolve(text, background=True))
            except ClusterLookupError as exc:
                logger.warning("alerts.cluster.unknown", extra={"status": str(exc)[:200]})
        return found

    async def _look_at(self, cluster: FoundCluster) -> None:
        try:
            workflows = await self._reads.workflows(cluster.ref)
        except CCEError as exc:  # the API is failing: no alert now, the next look tries again
            self._metrics.poll_error()
            logger.warning(
                "alerts.look.failed",
                extra={
                    "cluster_id": cluster.cluster_id,
                    "status": type(exc).__name__,
                    "request_id": exc.request_id,
                },
            )
            return
        now = self._clock()
        for workflow in workflows:
            snap = snapshot(workflow)
            last_change = _last_change(workflow)
            for finding in findings(
                snap,
                now=now,
                last_change=last_change,
                stalled_after=self._config.stalled_after,
            ):
                await self._alert(cluster, workflow, snap, finding)

    async def _alert(
        self, cluster: FoundCluster, workflow: WorkflowTask, snap: Snapshot, finding: Finding
    ) -> None:
        workflow_id = workflow.workflow_id or ""
        if not workflow_id:
            return
        record = AlertRecord(
            workflow_id=workflow_id,
            condition=finding.condition,
            project_id=cluster.project_id,
            cluster_id=cluster.cluster_id,
            channel_id=self._config.channel,
            created_at=self._clock(),
        )
        if not await self._alerts.record(record):
            existing = await self._alerts.get(workflow_id, finding.condition)
            if existing is None or existing.state != "pending":
                return  # alerted already, ever
            record = existing  # written down, never posted (a kill, Slack down): post it now
        await self._post(cluster, record, snap, finding)

    async def _post(
        self, cluster: FoundCluster, record: AlertRecord, snap: Snapshot, finding: Finding
    ) -> None:
        target = AlertTarget(cluster.project_id, cluster.cluster_id, record.workflow_id)
        text, blocks = alert_message(label=cluster.label, target=target, snap=snap, finding=finding)
        key = f"alert:{record.workflow_id}:{record.condition}"
        extra = {"workflow_id": record.workflow_id, "cluster_id": cluster.cluster_id}
        try:
            delivered = await self._delivery.send(
                NewDelivery(key, record.channel_id, text, blocks=blocks)
            )
        except (SlackPostError, DeliveryUncertain, DeliveryBusy) as exc:
            if self._clock() - record.created_at >= self._give_up_after:
                await self._alerts.posted(record.workflow_id, record.condition, None)
                logger.error("alerts.gave_up", extra={**extra, "status": type(exc).__name__})
                self._metrics.gave_up("alert")
                return
            logger.warning("alerts.post.failed", extra={**extra, "status": type(exc).__name__})
            return  # written down: the next look posts it
        await self._alerts.posted(record.workflow_id, record.condition, delivered.ts)
        self._metrics.alert(record.condition)
        logger.info("alerts.posted", extra={**extra, "status": record.condition})


def _key(cluster: FoundCluster) -> str:
    return f"{cluster.project_id}:{cluster.cluster_id}"


def _last_change(workflow: WorkflowTask) -> datetime | None:
    """When the workflow last changed, by the API's own clock (`updateTimestamp`)."""
    value = workflow.metadata.update_timestamp
    parsed = parse_api_time(value) if isinstance(value, str) else value
    return parsed if isinstance(parsed, datetime) else None
