"""The simulator's HTTP face: aiohttp routes for the cluster and upgrade-workflow API, auth, and
fault knobs.

Every answer carries `X-Request-Id` and a `Date` (the gateway's clock, skewed by
`faults.date_offset`); every error is `{"error_code", "error_msg"}`. Faults and auth apply to the
API routes only, never to `/_sim/...`. Knobs live in `faults`; serving it lives in `serving`.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from typing import Any

from aiohttp import web
from multidict import CIMultiDict
from pydantic import ValidationError

from bot.cce.models import WorkflowCreate, WorkflowUpdate
from bot.cce.signing import verify
from bot.domain.ids import InvalidID, validate_cluster_id, validate_project_id, validate_workflow_id
from bot.simulator.faults import Fault, Faults
from bot.simulator.world import BAD_REQUEST_CODE, NOT_FOUND_CODE, Call, World, WorldError

__all__ = ["Fault", "Faults", "create_app"]

logger = logging.getLogger(__name__)

CLUSTERS = "/autopilot/v3/projects/{project_id}/clusters"
BASE = CLUSTERS + "/{cluster_id}/operation/upgradeworkflows"
AKSK_FAILED = ("APIGW.0301", "Incorrect IAM authentication information: verify aksk signature fail")
TOKEN_FAILED = ("APIGW.0307", "The token must be updated.")
# The gateway rejects an X-Sdk-Date more than 15 minutes away from its own clock.
_MAX_SKEW = timedelta(minutes=15)
_STATUS_ERRORS = {
    429: ("APIGW.0308", "The throttling threshold has been reached"),
    500: ("CCE.01500001", "Internal server error (simulated)"),
    503: ("CCE.01500003", "Service temporarily unavailable (simulated)"),
}
_BAD_GATEWAY_HTML = (
    "<html><head><title>502 Bad Gateway</title></head><body>502 Bad Gateway</body></html>"
)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, code: str, msg: str, **headers: str) -> web.Response:
    return web.json_response({"error_code": code, "error_msg": msg}, status=status, headers=headers)


def _fault_response(fault: Fault, faults: Faults) -> web.Response:
    if fault.status == 502:
        return web.Response(status=502, text=_BAD_GATEWAY_HTML, content_type="text/html")
    code, msg = _STATUS_ERRORS.get(fault.status, (f"SIM.{fault.status}", "Simulated error"))
    retry_after = fault.retry_after
    if retry_after is None and fault.status == 429:
        retry_after = faults.retry_after
    headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
    return _error(fault.status, code, msg, **headers)


class _Gate:
    """Auth for the API routes: AK/SK signatures and/or a static token, whichever is configured."""

    def __init__(
        self,
        credentials: Mapping[str, str] | None,
        token: str | None,
        clock: Callable[[], datetime],
    ) -> None:
        self.credentials = dict(credentials or {})
        self.token = token
        self.clock = clock

    def refuse(self, request: web.Request, body: bytes) -> web.Response | None:
        if not self.credentials and self.token is None:
            return None
        given = request.headers.get("X-Auth-Token")
        if self.token is not None and given is not None:
            if hmac.compare_digest(given.encode(), self.token.encode()):
                return None
            if "Authorization" not in request.headers:
                return _error(401, *TOKEN_FAILED)
        if not self.credentials:
            return _error(401, *TOKEN_FAILED)
        reason = verify(
            request.method, request.raw_path, request.headers, body, self.credentials.get
        )
        if reason is None:
            reason = _date_problem(request.headers.get("X-Sdk-Date", ""), self.clock())
        if reason is None:
            return None
        logger.info("simulator.auth.rejected", extra={"reason": reason})
        return _error(401, *AKSK_FAILED)


def _date_problem(value: str, now: datetime) -> str | None:
    try:
        sent = datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return "X-Sdk-Date is malformed"
    if abs(now - sent) > _MAX_SKEW:
        return "X-Sdk-Date is more than 15 minutes off"
    return None


def _ids(request: web.Request) -> tuple[str, str, str | None]:
    """The path's project, cluster ("" when absent) and workflow ids, validated."""
    info = request.match_info
    try:
        project_id = validate_project_id(info["project_id"])
        cluster_id = info.get("cluster_id")
        workflow_id = info.get("workflow_id")
        return (
            project_id,
            "" if cluster_id is None else validate_cluster_id(cluster_id),
            None if workflow_id is None else validate_workflow_id(workflow_id),
        )
    except InvalidID as exc:
        raise WorldError(400, BAD_REQUEST_CODE, f"Invalid request parameter: {exc}") from None


async def _json_body(request: web.Request) -> Any:
    try:
        return json.loads(await request.read())
    except ValueError as exc:
        raise WorldError(400, BAD_REQUEST_CODE, f"Invalid request body: {exc}") from None


def _routes(world: World) -> list[web.RouteDef]:
    async def handle_list_clusters(request: web.Request) -> web.Response:
        project_id, _, _ = _ids(request)
        return web.json_response(world.list_clusters(project_id))

    async def handle_show_cluster(request: web.Request) -> web.Response:
        project_id, cluster_id, _ = _ids(request)
        return web.json_response(world.show_cluster(project_id, cluster_id))

    async def handle_list(request: web.Request) -> web.Response:
        project_id, cluster_id, _ = _ids(request)
        return web.json_response(world.list_workflows(project_id, cluster_id))

    async def handle_show(request: web.Request) -> web.Response:
        project_id, cluster_id, workflow_id = _ids(request)
        return web.json_response(world.show_workflow(project_id, cluster_id, workflow_id or ""))

    async def handle_create(request: web.Request) -> web.Response:
        project_id, cluster_id, _ = _ids(request)
        try:
            body = WorkflowCreate.model_validate(await _json_body(request))
        except ValidationError as exc:
            raise WorldError(400, BAD_REQUEST_CODE, f"Invalid request body: {exc}") from None
        spec = body.spec
        if spec.cluster_id is not None and spec.cluster_id.lower() != cluster_id:
            msg = f"spec.clusterID {spec.cluster_id} does not match cluster {cluster_id}"
            raise WorldError(400, BAD_REQUEST_CODE, msg)
        if not spec.target_version:
            raise WorldError(400, BAD_REQUEST_CODE, "spec.targetVersion is required")
        created = world.create_workflow(
            project_id, cluster_id, spec.cluster_version, spec.target_version
        )
        return web.json_response(created)

    async def handle_update(request: web.Request) -> web.Response:
        project_id, cluster_id, workflow_id = _ids(request)
        try:
            body = WorkflowUpdate.model_validate(await _json_body(request))
        except ValidationError as exc:
            raise WorldError(400, BAD_REQUEST_CODE, f"Invalid request body: {exc}") from None
        if body.status.phase != "Cancel":
            msg = f"Unsupported status.phase {body.status.phase!r}: only 'Cancel' is supported"
            raise WorldError(400, BAD_REQUEST_CODE, msg)
        return web.json_response(world.cancel_workflow(project_id, cluster_id, workflow_id or ""))

    return [
        web.get(CLUSTERS, handle_list_clusters),
        web.get(CLUSTERS + "/{cluster_id}", handle_show_cluster),
        web.get(BASE, handle_list),
        web.post(BASE, handle_create),
        web.get(BASE + "/{workflow_id}", handle_show),
        web.patch(BASE + "/{workflow_id}", handle_update),
    ]


def create_app(
    world: World,
    *,
    faults: Faults | None = None,
    credentials: Mapping[str, str] | None = None,
    token: str | None = None,
) -> web.Application:
    """The aiohttp app: cluster list and show, the four workflow operations, `/_sim/faults`."""
    knobs = faults if faults is not None else Faults()
    gate = _Gate(
        credentials, token, lambda: datetime.now(UTC) + timedelta(seconds=knobs.date_offset)
    )

    async def api(request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read()
        peer = request.transport.get_extra_info("peername") if request.transport else None
        world.calls.append(
            Call(
                request.method,
                request.raw_path,
                CIMultiDict(request.headers),
                body,
                f"{peer[0]}:{peer[1]}" if peer else "",
                time.monotonic(),
            )
        )
        fault = knobs.take()
        if knobs.latency:
            await asyncio.sleep(knobs.latency)
        if fault is not None and fault.kind == "hang":
            await asyncio.sleep(knobs.hang_seconds)
        elif fault is not None and fault.kind == "status":
            return _fault_response(fault, knobs)
        dropped = fault is not None and fault.kind == "drop"
        response: web.StreamResponse = web.Response(status=204)
        if not (dropped and fault is not None and not fault.after_apply):
            try:
                response = gate.refuse(request, body) or await handler(request)
            except WorldError as exc:
                response = _error(exc.status, exc.error_code, exc.error_msg)
        if fault is not None and fault.kind == "hold":  # applied; the answer is what is late
            await asyncio.sleep(knobs.hang_seconds)
        if dropped and request.transport is not None:
            request.transport.abort()
        return response

    @web.middleware
    async def envelope(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            if request.path.startswith("/_sim/"):
                response = await handler(request)
            else:
                response = await api(request, handler)
        except WorldError as exc:
            response = _error(exc.status, exc.error_code, exc.error_msg)
        except web.HTTPException as exc:
            code = NOT_FOUND_CODE if exc.status == 404 else f"SIM.{exc.status}"
            response = _error(exc.status, code, f"{exc.reason}: {request.method} {request.path}")
        response.headers["X-Request-Id"] = uuid.uuid4().hex
        response.headers["Date"] = formatdate(time.time() + knobs.date_offset, usegmt=True)
        return response

    async def handle_faults(request: web.Request) -> web.Response:
        if request.method == "POST":
            data = await _json_body(request)
            if not isinstance(data, dict):
                raise WorldError(400, BAD_REQUEST_CODE, "expected a JSON object")
            knobs.update(data)
        return web.json_response(knobs.as_json())

    app = web.Application(middlewares=[envelope])
    app.add_routes([*_routes(world), web.route("*", "/_sim/faults", handle_faults)])
    return app
