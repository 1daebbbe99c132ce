"""The CCE checks: per project one probe (credentials, endpoint, project id, latency), per
endpoint the gateway's clock against this host's, per cluster alias one show.

Every call is a read, made once and never retried (the client is built with one attempt).
Imports the CCE client, the config and the doctor's own parts; nothing from Slack or the store.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from bot.cce.client import CCEClient, Probe
from bot.cce.endpoints import ClusterRef, ProjectRef
from bot.cce.errors import CCEError, CCEStatusError
from bot.config import Config
from bot.doctor.cce_errors import explain
from bot.doctor.checks import Check, Planned, Shared
from bot.doctor.clock import beyond_gateway_limit, skew_check

__all__ = ["CCEDoctor", "Targets", "cce_targets"]


@dataclass(frozen=True)
class Targets:
    """What the config names: projects (each with the keys that name it) and cluster aliases."""

    projects: dict[ProjectRef, list[str]]
    clusters: dict[str, ClusterRef]
    problems: list[Check]


def cce_targets(config: Config) -> Targets:
    """Every project the bot may call (from `projects:`, CCE_PROJECT_ID and the aliases' own
    project ids) and every alias; an entry that cannot be called is a failed check."""
    projects: dict[ProjectRef, list[str]] = {}
    clusters: dict[str, ClusterRef] = {}
    problems: list[Check] = []
    check_first = "fix it as `cce-upgrade-bot check` says"
    try:
        for index, project in enumerate(config.project_refs()):
            projects.setdefault(project, []).append(f"projects[{index}]")
    except LookupError as exc:
        problems.append(Check.failed("CCE projects", str(exc), check_first))
    default = config.default_project()
    if default is not None:
        projects.setdefault(default, []).append("CCE_PROJECT_ID")
    for alias in config.bot.clusters:
        try:
            _, ref = config.cluster(alias)
        except LookupError as exc:
            problems.append(Check.failed(f"CCE cluster {alias}", str(exc), check_first))
            continue
        clusters[alias] = ref
        projects.setdefault(ref.project, []).append(f"clusters.{alias}")
    if not projects and not problems:
        problems.append(
            Check.failed(
                "CCE projects",
                "no project or cluster is configured, so there is nothing the bot could act on",
                "list clusters under `clusters:` or projects under `projects:` in the YAML config, "
                "or set CCE_PROJECT_ID with CCE_REGION",
            )
        )
    return Targets(projects, clusters, problems)


@dataclass(frozen=True)
class _Answer:
    """A probe's outcome, with the gateway's clock and this host's when the answer came."""

    outcome: Probe | CCEError
    server_date: datetime | None
    seen_at: datetime


class CCEDoctor:
    """Plans the CCE checks; each project is probed once, whichever checks read it."""

    def __init__(self, client: CCEClient, *, signed: bool, clock: Callable[[], datetime]) -> None:
        self._client = client
        self._signed = signed  # AK/SK (refused beyond 15 min of skew), not a static token
        self._clock = clock
        self._answers: dict[ProjectRef, Shared[_Answer]] = {}

    def plan(self, targets: Targets) -> list[Planned]:
        planned: list[Planned] = []
        clocks: dict[str, ProjectRef] = {}
        for project, origins in targets.projects.items():
            self._answers[project] = Shared(partial(self._probe, project))
            clocks.setdefault(project.endpoint, project)
            planned.append(self._project(project, origins))
        for endpoint, project in clocks.items():
            planned.append(self._gateway_clock(endpoint, project))
        for alias, ref in targets.clusters.items():
            planned.append(self._cluster(alias, ref))
        return planned

    async def aclose(self) -> None:
        for answer in self._answers.values():
            await answer.aclose()

    async def _probe(self, project: ProjectRef) -> _Answer:
        try:
            probe = await self._client.probe(project)
        except CCEError as exc:
            date = exc.server_date if isinstance(exc, CCEStatusError) else None
            return _Answer(exc, date, self._clock())
        return _Answer(probe, probe.server_date, self._clock())

    async def _answer(self, project: ProjectRef) -> _Answer:
        answer = await self._answers[project].get()
        if isinstance(answer, Exception):
            raise answer
        return answer

    def _project(self, project: ProjectRef, origins: list[str]) -> Planned:
        name = project_check_name(project)

        async def run() -> Check:
            answer = await self._answer(project)
            p = answer.outcome
            if isinstance(p, Probe):
                return Check.passed(
                    name,
                    f"{p.cluster_count} cluster(s) listed in {p.latency_s * 1000:.0f} ms "
                    f"(request id {p.request_id or 'none'}; from {', '.join(origins)})",
                )
            not_found = (
                f"the API knows no project {project.project_id} at {project.endpoint}",
                f"check the project id in {', '.join(origins)}: Huawei Cloud console → My "
                "Credentials → API Credentials lists the project id of each region, and it "
                "must be the project of this endpoint's region",
            )
            detail, fix = self._explain(p, answer.server_date, answer.seen_at, origins, not_found)
            return Check.failed(name, detail, fix)

        return Planned(name, run, _unreachable_fix(project.endpoint, origins))

    def _gateway_clock(self, endpoint: str, project: ProjectRef) -> Planned:
        name = f"clock skew at {endpoint}"

        async def run() -> Check:
            answer = await self._answer(project)
            if answer.server_date is not None:
                return skew_check(name, answer.server_date, answer.seen_at, signed=self._signed)
            if not isinstance(answer.outcome, Probe | CCEStatusError):
                return Check.failed(
                    name,
                    "no answer from the endpoint, so its clock could not be compared",
                    f"fix the check `{project_check_name(project)}` first",
                )
            return Check.warned(
                name,
                "the endpoint answered without a Date header, so its clock could not be compared",
                "check that the endpoint is the CCE API (https://cce.<region>.myhuaweicloud.com)",
            )

        return Planned(name, run, _unreachable_fix(endpoint, ["its project"]))

    def _cluster(self, alias: str, ref: ClusterRef) -> Planned:
        name = f"CCE cluster {alias}"
        origins = [f"clusters.{alias}"]

        async def run() -> Check:
            started = time.perf_counter()
            try:
                cluster = await self._client.show_cluster(ref)
            except CCEError as exc:
                date = exc.server_date if isinstance(exc, CCEStatusError) else None
                not_found = (
                    f"the API knows no cluster {ref.cluster_id} in project {ref.project_id}",
                    f"check clusters.{alias}.cluster_id (CCE console → the cluster → Overview) "
                    "and its project_id and region",
                )
                detail, fix = self._explain(exc, date, self._clock(), origins, not_found)
                return Check.failed(name, detail, fix)
            elapsed = (time.perf_counter() - started) * 1000
            return Check.passed(
                name,
                f"{ref.cluster_id} is {cluster.name or '(unnamed)'}, phase "
                f"{cluster.status.phase or 'unknown'} ({elapsed:.0f} ms)",
            )

        return Planned(name, run, _unreachable_fix(ref.endpoint, origins))

    def _explain(
        self,
        exc: CCEError,
        server_date: datetime | None,
        seen_at: datetime,
        origins: list[str],
        not_found: tuple[str, str],
    ) -> tuple[str, str]:
        return explain(
            exc,
            signed=self._signed,
            clock_off=beyond_gateway_limit(server_date, seen_at),
            origins=origins,
            not_found=not_found,
        )


def project_check_name(project: ProjectRef) -> str:
    return f"CCE project {project.project_id} at {project.endpoint}"


def _unreachable_fix(endpoint: str, origins: list[str]) -> str:
    return (
        f"check that {endpoint} is the CCE endpoint of the region ({', '.join(origins)}, or "
        "CCE_REGION/CCE_ENDPOINT) and that this host may connect to it (firewall, proxy)"
    )
