"""The bot's parts, built through their constructors in dependency order (the composition root's
core; `bot.app.create_app` adds Slack, HTTP and the scheduler around it). Nothing is assigned
after construction, and no part reaches into another's attributes: each receives what it uses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot.approval.audit import RequestAudit
from bot.approval.decisions import Decisions
from bot.approval.home import HomeTab
from bot.approval.lease import Leases
from bot.approval.message import RequestMessage
from bot.approval.modal import CancelModal
from bot.approval.opening import Opening
from bot.approval.outcomes import Outcomes
from bot.approval.queries import Queries
from bot.approval.recovery import Recovery
from bot.approval.runner import CommandRunner
from bot.approval.sender import CancelSender
from bot.approval.targets import Targets
from bot.approval.work import RequestWork
from bot.cce.client import CCEClient
from bot.cce.clusters import ClusterDirectory
from bot.config import Config
from bot.domain.approvals import ApprovalPolicy
from bot.metrics import Metrics
from bot.slack.delivery import Delivery
from bot.slack.directory import ApproverDirectory
from bot.slack.links import WorkspaceLinks
from bot.slack.poster import Poster
from bot.slack.views import Views
from bot.store import Store
from bot.watch.alerts import Alerts
from bot.watch.reads import ClusterReads
from bot.watch.roots import Roots
from bot.watch.starting import Watching
from bot.watch.watcher import Watcher

__all__ = ["Parts", "build_parts"]


@dataclass(frozen=True)
class Parts:
    targets: Targets
    opening: Opening
    decisions: Decisions
    queries: Queries
    watching: Watching
    watcher: Watcher
    recovery: Recovery
    runner: CommandRunner
    modal: CancelModal
    home: HomeTab
    alerts: Alerts | None  # None without `alerts:` in the config


def build_parts(
    *,
    config: Config,
    cce: CCEClient,
    store: Store,
    poster: Poster,
    views: Views,
    links: WorkspaceLinks,
    directory: ApproverDirectory,
    clock: Callable[[], datetime],
    owner: str,
    metrics: Metrics,
) -> Parts:
    bot = config.bot
    lease = bot.recovery.lease
    policy = ApprovalPolicy(
        approver_users=frozenset(bot.approvers.users),
        required=bot.approval.required,
        allow_self_approval=bot.approval.allow_self_approval,
        expires_after=bot.approval.expires_after,
    )
    cluster_directory = ClusterDirectory(  # one, for commands, the modal and the alerts
        aliases=config.alias_refs(),
        projects=config.project_refs(),
        default_project=config.default_project(),
        cce=cce,
        clock=clock,
        ttl=bot.cce.cluster_cache,
    )
    targets = Targets(directory=cluster_directory, cce=cce)
    delivery = Delivery(
        store.deliveries, poster, owner=owner, clock=clock, claim=lease, on_outcome=metrics.delivery
    )
    audit = RequestAudit(store.audit, clock)
    leases = Leases(store.requests, owner=owner, clock=clock, lease=lease)
    message = RequestMessage(requests=store.requests, delivery=delivery, poster=poster, clock=clock)
    watching = Watching(
        cce=cce,
        watches=store.watches,
        delivery=delivery,
        audit=store.audit,
        config=bot.watch,
        clock=clock,
    )
    reads = ClusterReads(cce, clock=clock, concurrency=bot.watch.concurrency)
    watcher = Watcher(
        reads=reads,
        watches=store.watches,
        delivery=delivery,
        roots=Roots(requests=store.requests, message=message, poster=poster),
        config=bot.watch,
        lease=lease,
        clock=clock,
        owner=owner,
        metrics=metrics,
    )
    sender = CancelSender(
        cce=cce,
        requests=store.requests,
        audit=audit,
        message=message,
        owner=owner,
        clock=clock,
        metrics=metrics,
    )
    work = RequestWork(
        requests=store.requests,
        audit=audit,
        leases=leases,
        message=message,
        sender=sender,
        outcomes=Outcomes(message=message, watches=watching),
        poster=poster,
        clock=clock,
        give_up_after=bot.recovery.give_up_after,
        metrics=metrics,
    )
    decisions = Decisions(
        requests=store.requests,
        audit=audit,
        message=message,
        work=work,
        leases=leases,
        directory=directory,
        policy=policy,
        channels=bot.channels,
        clock=clock,
        metrics=metrics,
    )
    opening = Opening(
        cce=cce,
        requests=store.requests,
        audit=audit,
        message=message,
        leases=leases,
        work=work,
        policy=policy,
        clock=clock,
    )
    queries = Queries(cce=cce, targets=targets)
    return Parts(
        targets=targets,
        opening=opening,
        decisions=decisions,
        queries=queries,
        watching=watching,
        watcher=watcher,
        recovery=Recovery(
            requests=store.requests, leases=leases, work=work, decisions=decisions, clock=clock
        ),
        runner=CommandRunner(targets=targets, opening=opening, queries=queries, watching=watching),
        modal=CancelModal(views=views, targets=targets, opening=opening, channels=bot.channels),
        home=HomeTab(
            requests=store.requests,
            watches=store.watches,
            views=views,
            directory=directory,
            policy=policy,
            links=links,
            clock=clock,
        ),
        alerts=None
        if bot.alerts is None
        else Alerts(
            config=bot.alerts,
            directory=cluster_directory,
            reads=reads,
            alerts=store.alerts,
            delivery=delivery,
            clock=clock,
            owner=owner,
            lease=lease,
            give_up_after=bot.recovery.give_up_after,
            metrics=metrics,
        ),
    )
