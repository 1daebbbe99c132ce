"""The one CCE Autopilot client, shared by handlers, the poller and alerts.

Reads (show, list) are retried with jittered backoff on transport errors, 429 (honouring
Retry-After) and 5xx. Create and cancel are never blindly retried: an ambiguous cancel (timeout,
connection lost after sending, a 5xx from a gateway) is settled by reading the workflow again.
Every request first waits for the process's request `Budget` (when one is given): the cancel
first, then interactive callers, then `background=True` ones. Every path parameter is validated
before a request is built.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import stamina
from pydantic import BaseModel

from bot.cce.budget import Budget, Priority
from bot.cce.endpoints import ClusterRef, ProjectRef
from bot.cce.errors import (
    CCECancelUnconfirmed,
    CCEInvalidRequest,
    CCERateLimited,
    CCEServerError,
    CCETLSError,
    CCETransportError,
)
from bot.cce.models import (
    Cluster,
    ClusterList,
    WorkflowCreate,
    WorkflowItems,
    WorkflowList,
    WorkflowPhase,
    WorkflowSpec,
    WorkflowTask,
    WorkflowUpdate,
)
from bot.cce.responses import parse, server_date, status_error
from bot.cce.snapshots import snapshot
from bot.cce.transport import default_timeout, http_client, transport_error
from bot.domain.cancellability import cancellability
from bot.domain.ids import InvalidID, validate_workflow_id

__all__ = [
    "CCEClient",
    "CancelOutcome",
    "Probe",
    "RetryPolicy",
    "default_timeout",
    "http_client",
]

logger = logging.getLogger(__name__)
_M = TypeVar("_M", bound=BaseModel)
# Compact JSON: the signature covers the exact bytes, so we build them once ourselves.
CANCEL_BODY = WorkflowUpdate.cancel().model_dump_json(by_alias=True).encode()

Observer = Callable[[str, int | None, float], None]
"""Called after each HTTP attempt with (operation, HTTP status or None, seconds)."""


@dataclass(frozen=True)
class RetryPolicy:
    """How reads are retried. `max_retry_after` caps how long a 429 may make us wait."""

    attempts: int = 4
    timeout: float = 30.0
    wait_initial: float = 0.2
    wait_max: float = 5.0
    wait_jitter: float = 0.5
    max_retry_after: float = 30.0


@dataclass(frozen=True)
class CancelOutcome:
    """What the cancel did. `confirmed_by_read` when its answer was lost and a read settled it."""

    workflow: WorkflowTask
    request_id: str | None
    confirmed_by_read: bool = False
    resent: bool = False


@dataclass(frozen=True)
class Probe:
    """One read-only call's answer, for `doctor`: latency, the gateway's clock, request id."""

    latency_s: float
    server_date: datetime | None
    request_id: str | None
    cluster_count: int


def _priority(background: bool) -> Priority:
    return Priority.BACKGROUND if background else Priority.INTERACTIVE


class CCEClient:
    """Async client for the cluster and upgrade-workflow operations of CCE Autopilot."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        retry: RetryPolicy | None = None,
        observer: Observer | None = None,
        budget: Budget | None = None,
    ) -> None:
        self._http = http
        self._retry = retry or RetryPolicy()
        self._observer = observer
        self._budget = budget
        self._urls: dict[str, httpx.URL] = {}

    async def aclose(self) -> None:
        if self._budget is not None:
            await self._budget.aclose()
        await self._http.aclose()

    def _url(self, text: str) -> httpx.URL:
        """Parsed once per workflow URL: httpx's URL parsing was a tenth of a read's CPU."""
        url = self._urls.get(text)
        if url is None:
            if len(self._urls) >= 10_000:
                self._urls.clear()
            url = self._urls[text] = httpx.URL(text)
        return url

    # -- clusters ---------------------------------------------------------------------------

    async def list_clusters(
        self, project: ProjectRef, *, background: bool = False
    ) -> list[Cluster]:
        """ListAutopilotClusters: GET /autopilot/v3/projects/{project_id}/clusters."""
        model, _ = await self._read(
            "list_clusters", project, project.clusters_path, ClusterList, _priority(background)
        )
        return model.items

    async def show_cluster(self, cluster: ClusterRef, *, background: bool = False) -> Cluster:
        """ShowAutopilotCluster: GET /autopilot/v3/projects/{project_id}/clusters/{cluster_id}."""
        model, _ = await self._read(
            "show_cluster", cluster, cluster.cluster_path, Cluster, _priority(background)
        )
        return model

    async def probe(self, project: ProjectRef, *, background: bool = False) -> Probe:
        """One ListAutopilotClusters call, not retried: latency, the gateway's `Date`, request id.

        For `doctor`: the clock skew the gateway sees is `server_date - now` (the gateway refuses
        AK/SK signatures more than 15 minutes off). Errors raise the usual typed errors.
        """
        response = await self._send(
            "probe", project, "GET", project.clusters_path, None, _priority(background)
        )
        listed = parse(response, ClusterList)
        return Probe(
            response.elapsed.total_seconds(),  # the HTTP exchange only, not a budget wait
            server_date(response),
            response.headers.get("x-request-id"),
            len(listed.items),
        )

    # -- upgrade workflows ------------------------------------------------------------------

    async def show_workflow(
        self, cluster: ClusterRef, workflow_id: str, *, background: bool = False
    ) -> WorkflowTask:
        """ShowAutopilotUpgradeWorkFlow: GET …/upgradeworkflows/{upgrade_workflow_id}."""
        path = f"{cluster.workflows_path}/{_workflow(workflow_id)}"
        model, _ = await self._read(
            "show_workflow", cluster, path, WorkflowTask, _priority(background)
        )
        return model

    async def list_workflows(
        self, cluster: ClusterRef, *, background: bool = False
    ) -> list[WorkflowTask]:
        """ListAutopilotUpgradeWorkFlows: GET …/upgradeworkflows (no paging); newest first."""
        model, _ = await self._read(
            "list_workflows", cluster, cluster.workflows_path, WorkflowList, _priority(background)
        )
        return sorted(model.items, key=_created_key, reverse=True)

    async def list_workflow_items(
        self, cluster: ClusterRef, *, background: bool = False
    ) -> list[dict[str, Any]]:
        """ListAutopilotUpgradeWorkFlows, its items left as JSON objects (unordered).

        For a reader that wants a few workflows out of a long list (the watcher): validating
        every item as a `WorkflowTask` was a third of the watcher's CPU; each item is validated
        when it is wanted (`WorkflowTask.model_validate`).
        """
        response = await self._get(
            "list_workflows", cluster, cluster.workflows_path, _priority(background)
        )
        return parse(response, WorkflowItems).items

    async def create_workflow(
        self,
        cluster: ClusterRef,
        cluster_version: str,
        target_version: str,
        *,
        background: bool = False,
    ) -> WorkflowTask:
        """CreateAutopilotUpgradeWorkFlow: POST …/upgradeworkflows. Not retried."""
        body = WorkflowCreate(
            spec=WorkflowSpec(
                cluster_id=cluster.cluster_id,
                cluster_version=cluster_version,
                target_version=target_version,
            )
        ).model_dump_json(by_alias=True, exclude_none=True)
        response = await self._send(
            "create_workflow",
            cluster,
            "POST",
            cluster.workflows_path,
            body.encode(),
            _priority(background),
        )
        return parse(response, WorkflowTask)

    async def cancel_workflow(
        self, cluster: ClusterRef, workflow_id: str, *, background: bool = False
    ) -> CancelOutcome:
        """UpgradeAutopilotWorkFlowUpdate: PATCH …/upgradeworkflows/{id} with phase Cancel.

        Sent once. If its answer is lost, the workflow is read: phase Cancel means it worked.
        Only when the read shows it still cancellable is the cancel sent one more time. The
        cancel and its settling read go ahead of every queued read, whatever `background` says.
        A certificate the client does not trust means nothing was sent: raised as it is.
        """
        path = f"{cluster.workflows_path}/{_workflow(workflow_id)}"
        for attempt in (1, 2):
            try:
                response = await self._send(
                    "cancel_workflow", cluster, "PATCH", path, CANCEL_BODY, Priority.URGENT
                )
                workflow = parse(response, WorkflowTask)
                return CancelOutcome(
                    workflow, response.headers.get("x-request-id"), resent=attempt > 1
                )
            except CCETLSError:
                raise
            except (CCETransportError, CCEServerError) as exc:
                logger.warning(
                    "cce.cancel.ambiguous",
                    extra={
                        "cluster_id": cluster.cluster_id,
                        "workflow_id": workflow_id,
                        "request_id": exc.request_id,
                        "status": type(exc).__name__,
                    },
                )
                try:
                    workflow, _ = await self._read(
                        "show_workflow", cluster, path, WorkflowTask, Priority.URGENT
                    )
                except (CCETransportError, CCEServerError, CCERateLimited) as read_exc:
                    raise CCECancelUnconfirmed(
                        "the cancel's answer was lost and the workflow could not be read "
                        "to confirm it; check the workflow before trying again"
                    ) from read_exc
                if (workflow.status.phase or "").lower() == WorkflowPhase.CANCEL.lower():
                    return CancelOutcome(
                        workflow, exc.request_id, confirmed_by_read=True, resent=attempt > 1
                    )
                if attempt == 2 or not cancellability(snapshot(workflow)).cancellable:
                    raise CCECancelUnconfirmed(
                        "the cancel's answer was lost and the workflow is in phase "
                        f"{workflow.status.phase}, not Cancel"
                    ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    # -- plumbing ---------------------------------------------------------------------------

    async def _read(
        self,
        operation: str,
        where: ClusterRef | ProjectRef,
        path: str,
        model: type[_M],
        priority: Priority,
    ) -> tuple[_M, str | None]:
        response = await self._get(operation, where, path, priority)
        return parse(response, model), response.headers.get("x-request-id")

    async def _get(
        self, operation: str, where: ClusterRef | ProjectRef, path: str, priority: Priority
    ) -> httpx.Response:
        """A read, retried with backoff on transport errors, 5xx and 429."""
        policy = self._retry
        async for attempt in stamina.retry_context(
            on=self._backoff,
            attempts=policy.attempts,
            timeout=policy.timeout,
            wait_initial=policy.wait_initial,
            wait_max=policy.wait_max,
            wait_jitter=policy.wait_jitter,
        ):
            with attempt:
                response = await self._send(operation, where, "GET", path, None, priority)
        return response

    def _backoff(self, exc: Exception) -> bool | float:
        """Which read failures are retried, and how long a 429 asks us to wait."""
        if isinstance(exc, CCERateLimited):
            if exc.retry_after is None:
                return True
            return exc.retry_after if exc.retry_after <= self._retry.max_retry_after else False
        if isinstance(exc, CCETLSError):  # the same certificate would be refused again
            return False
        return isinstance(exc, CCETransportError | CCEServerError)

    async def _send(
        self,
        operation: str,
        where: ClusterRef | ProjectRef,
        method: str,
        path: str,
        body: bytes | None,
        priority: Priority,
    ) -> httpx.Response:
        headers = {"Content-Type": "application/json", "X-Project-Id": where.project_id}
        try:
            url = self._url(where.endpoint + path)
            request = self._http.build_request(method, url, content=body, headers=headers)
        except httpx.InvalidURL as exc:  # e.g. host 999.1.1.1, which validate_endpoint lets by
            raise CCEInvalidRequest(f"{operation}: the endpoint is not a valid URL") from exc
        if self._budget is not None:
            await self._budget.acquire(where.endpoint, priority)
        started = time.perf_counter()
        status: int | None = None
        try:
            response = await self._http.send(request)
            status = response.status_code
        except (httpx.TransportError, TimeoutError) as exc:
            raise transport_error(operation, exc) from exc
        finally:
            elapsed = time.perf_counter() - started
            if self._observer is not None:
                self._observer(operation, status, elapsed)
            logger.debug(
                "cce.request",
                extra={
                    "operation": operation,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 1),
                },
            )
        if response.status_code >= 400:
            error = status_error(response)
            if self._budget is not None and isinstance(error, CCERateLimited):
                # The gateway throttles the endpoint, not one caller: everyone waits.
                self._budget.block(where.endpoint, error.retry_after)
            raise error
        return response


def _workflow(workflow_id: str) -> str:
    try:
        return validate_workflow_id(workflow_id)
    except InvalidID as exc:
        raise CCEInvalidRequest(str(exc)) from exc


def _created_key(workflow: WorkflowTask) -> str:
    created = workflow.metadata.creation_timestamp
    if isinstance(created, datetime):
        return created.astimezone(UTC).isoformat()
    return str(created or "")
