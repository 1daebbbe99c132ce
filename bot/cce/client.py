"""The one CCE Autopilot upgrade-workflow client, shared by handlers and the poller.

Reads (show, list) are retried with jittered backoff on transport errors, 429 (honouring
Retry-After) and 5xx. Create and cancel are never blindly retried: an ambiguous cancel (timeout,
connection lost after sending, a 5xx from a gateway) is settled by reading the workflow again.
Every path parameter is validated before a request is built.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import aiohttp
import httpx
import stamina
from httpx_aiohttp import AiohttpTransport
from pydantic import BaseModel, ValidationError

from bot.cce.endpoints import ClusterRef
from bot.cce.errors import (
    CCEAuthError,
    CCECancelUnconfirmed,
    CCEConflict,
    CCEInvalidRequest,
    CCENotFound,
    CCERateLimited,
    CCEResponseInvalid,
    CCEServerError,
    CCEStatusError,
    CCETransportError,
)
from bot.cce.models import (
    ErrorBody,
    WorkflowCreate,
    WorkflowList,
    WorkflowPhase,
    WorkflowSpec,
    WorkflowTask,
    WorkflowUpdate,
)
from bot.cce.snapshots import snapshot
from bot.domain.cancellability import cancellability
from bot.domain.ids import InvalidID, validate_workflow_id

__all__ = ["CCEClient", "CancelOutcome", "RetryPolicy", "default_timeout", "http_client"]

logger = logging.getLogger(__name__)
_M = TypeVar("_M", bound=BaseModel)
# Compact JSON: the signature covers the exact bytes, so we build them once ourselves.
CANCEL_BODY = WorkflowUpdate.cancel().model_dump_json(by_alias=True).encode()

Observer = Callable[[str, int | None, float], None]
"""Called after each HTTP attempt with (operation, HTTP status or None, seconds)."""


def default_timeout() -> httpx.Timeout:
    return httpx.Timeout(15.0, connect=5.0)


def http_client(
    auth: httpx.Auth | None,
    *,
    timeout: httpx.Timeout | float | None = None,
    limits: httpx.Limits | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """The process's one `httpx.AsyncClient` for CCE, on aiohttp's connection pool by default.

    httpx's own pool (httpcore) cost 2.4–2.8 ms of CPU per signed read with 20 requests in
    flight; on `httpx_aiohttp.AiohttpTransport` the same read costs about 0.66 ms
    (bench/client_cost.py). The httpx API, auth flows and exceptions stay the same.
    """
    limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)
    if transport is None:
        transport = AiohttpTransport(limits=limits, trust_env=False)
    return httpx.AsyncClient(
        auth=auth,
        timeout=timeout if timeout is not None else default_timeout(),
        limits=limits,
        transport=transport,
        trust_env=False,
    )


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


def _parse_retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return max(seconds, 0.0)


def _status_error(response: httpx.Response) -> CCEStatusError:
    request_id = response.headers.get("x-request-id")
    try:
        body = ErrorBody.from_json(response.json())
    except (json.JSONDecodeError, UnicodeDecodeError):
        kind = response.headers.get("content-type", "unknown type").split(";")[0]
        body = ErrorBody(error_msg=f"the API answered with a non-JSON body ({kind})")
    code = response.status_code
    cls: type[CCEStatusError]
    if code in (401, 403):
        cls = CCEAuthError
    elif code == 404:
        cls = CCENotFound
    elif code in (400, 409):
        cls = CCEConflict
    elif code == 429:
        cls = CCERateLimited
    elif code >= 500:
        cls = CCEServerError
    else:
        cls = CCEStatusError
    error = cls(code, body.error_code, body.error_msg, request_id)
    if isinstance(error, CCERateLimited):
        error.retry_after = _parse_retry_after(response.headers.get("retry-after"))
    return error


class CCEClient:
    """Async client for the upgrade-workflow operations of CCE Autopilot."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        retry: RetryPolicy | None = None,
        observer: Observer | None = None,
    ) -> None:
        self._http = http
        self._retry = retry or RetryPolicy()
        self._observer = observer
        self._urls: dict[str, httpx.URL] = {}

    async def aclose(self) -> None:
        await self._http.aclose()

    def _url(self, text: str) -> httpx.URL:
        """Parsed once per workflow URL: httpx's URL parsing was a tenth of a read's CPU."""
        url = self._urls.get(text)
        if url is None:
            if len(self._urls) >= 10_000:
                self._urls.clear()
            url = self._urls[text] = httpx.URL(text)
        return url

    # -- operations -------------------------------------------------------------------------

    async def show_workflow(self, cluster: ClusterRef, workflow_id: str) -> WorkflowTask:
        """ShowAutopilotUpgradeWorkFlow: GET …/upgradeworkflows/{upgrade_workflow_id}."""
        path = f"{cluster.workflows_path}/{_workflow(workflow_id)}"
        model, _ = await self._read("show_workflow", cluster, path, WorkflowTask)
        return model

    async def list_workflows(self, cluster: ClusterRef) -> list[WorkflowTask]:
        """ListAutopilotUpgradeWorkFlows: GET …/upgradeworkflows (no paging); newest first."""
        model, _ = await self._read("list_workflows", cluster, cluster.workflows_path, WorkflowList)
        return sorted(model.items, key=_created_key, reverse=True)

    async def create_workflow(
        self, cluster: ClusterRef, cluster_version: str, target_version: str
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
            "create_workflow", cluster, "POST", cluster.workflows_path, body.encode()
        )
        return _parse(response, WorkflowTask)

    async def cancel_workflow(self, cluster: ClusterRef, workflow_id: str) -> CancelOutcome:
        """UpgradeAutopilotWorkFlowUpdate: PATCH …/upgradeworkflows/{id} with phase Cancel.

        Sent once. If its answer is lost, the workflow is read: phase Cancel means it worked.
        Only when the read shows it still cancellable is the cancel sent one more time.
        """
        path = f"{cluster.workflows_path}/{_workflow(workflow_id)}"
        for attempt in (1, 2):
            try:
                response = await self._send("cancel_workflow", cluster, "PATCH", path, CANCEL_BODY)
                workflow = _parse(response, WorkflowTask)
                return CancelOutcome(
                    workflow, response.headers.get("x-request-id"), resent=attempt > 1
                )
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
                    workflow = await self.show_workflow(cluster, workflow_id)
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
        self, operation: str, cluster: ClusterRef, path: str, model: type[_M]
    ) -> tuple[_M, str | None]:
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
                response = await self._send(operation, cluster, "GET", path, None)
        return _parse(response, model), response.headers.get("x-request-id")

    def _backoff(self, exc: Exception) -> bool | float:
        """Which read failures are retried, and how long a 429 asks us to wait."""
        if isinstance(exc, CCERateLimited):
            if exc.retry_after is None:
                return True
            return exc.retry_after if exc.retry_after <= self._retry.max_retry_after else False
        return isinstance(exc, CCETransportError | CCEServerError)

    async def _send(
        self, operation: str, cluster: ClusterRef, method: str, path: str, body: bytes | None
    ) -> httpx.Response:
        headers = {"Content-Type": "application/json", "X-Project-Id": cluster.project_id}
        try:
            url = self._url(cluster.endpoint + path)
            request = self._http.build_request(method, url, content=body, headers=headers)
        except httpx.InvalidURL as exc:  # e.g. host 999.1.1.1, which validate_endpoint lets by
            raise CCEInvalidRequest(f"{operation}: the endpoint is not a valid URL") from exc
        started = time.perf_counter()
        status: int | None = None
        try:
            response = await self._http.send(request)
            status = response.status_code
        except (httpx.TransportError, TimeoutError) as exc:
            what, sent = _transport_failure(exc)
            raise CCETransportError(f"{operation}: {what}", sent=sent) from exc
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
            raise _status_error(response)
        return response


def _transport_failure(exc: BaseException) -> tuple[str, bool]:
    """What went wrong, and whether the request may have reached the server.

    httpx_aiohttp maps some aiohttp errors coarsely (a refused connection becomes
    `ConnectTimeout`), so the aiohttp error it wraps is looked at first.
    """
    cause = exc.__cause__
    name = type(cause if cause is not None else exc).__name__
    if isinstance(cause, aiohttp.ClientConnectorError):
        return f"connection failed ({name})", False
    if isinstance(cause, aiohttp.ConnectionTimeoutError):
        return f"timed out connecting ({name})", False
    if isinstance(cause, aiohttp.ServerTimeoutError | TimeoutError):
        return f"timed out ({name})", True
    if isinstance(cause, aiohttp.ClientError):
        return f"connection failed ({name})", True
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        return f"timed out connecting ({name})", False
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return f"timed out ({name})", True
    return f"connection failed ({name})", not isinstance(exc, httpx.ConnectError)


def _workflow(workflow_id: str) -> str:
    try:
        return validate_workflow_id(workflow_id)
    except InvalidID as exc:
        raise CCEInvalidRequest(str(exc)) from exc


def _parse(response: httpx.Response, model: type[_M]) -> _M:
    request_id = response.headers.get("x-request-id")
    try:
        data: Any = response.json()
        return model.model_validate(data)
    except (json.JSONDecodeError, UnicodeDecodeError, ValidationError) as exc:
        raise CCEResponseInvalid(
            f"the API's answer is not a valid {model.__name__}",
            status=response.status_code,
            request_id=request_id,
        ) from exc


def _created_key(workflow: WorkflowTask) -> str:
    created = workflow.metadata.creation_timestamp
    if isinstance(created, datetime):
        return created.astimezone(UTC).isoformat()
    return str(created or "")
