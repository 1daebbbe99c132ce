"""The simulator's HTTP face: aiohttp routes for the upgrade-workflow API, auth, and fault knobs.

Every answer carries `X-Request-Id`, every error is `{"error_code", "error_msg"}`. Faults and auth
apply to the API routes only, never to `/_sim/...`. Knobs live in `faults`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from aiohttp import web
from multidict import CIMultiDict
from pydantic import ValidationError

from bot.cce.models import WorkflowCreate, WorkflowUpdate
from bot.cce.signing import verify
from bot.domain.ids import InvalidID, validate_cluster_id, validate_project_id, validate_workflow_id
from bot.simulator.faults import Fault, Faults
from bot.simulator.scenario import build_world, default_scenario, describe_world, load_scenario
from bot.simulator.world import BAD_REQUEST_CODE, NOT_FOUND_CODE, Call, World, WorldError

__all__ = ["Fault", "Faults", "RunningSimulator", "create_app", "running_simulator", "serve"]

logger = logging.getLogger(__name__)

BASE = "/autopilot/v3/projects/{project_id}/clusters/{cluster_id}/operation/upgradeworkflows"
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

    def __init__(self, credentials: Mapping[str, str] | None, token: str | None) -> None:
        self.credentials = dict(credentials or {})
        self.token = token

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
            reason = _date_problem(request.headers.get("X-Sdk-Date", ""))
        if reason is None:
            return None
        logger.info("simulator.auth.rejected", extra={"reason": reason})
        return _error(401, *AKSK_FAILED)


def _date_problem(value: str) -> str | None:
    try:
        sent = datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return "X-Sdk-Date is malformed"
    if abs(datetime.now(UTC) - sent) > _MAX_SKEW:
        return "X-Sdk-Date is more than 15 minutes off"
    return None


def _ids(request: web.Request) -> tuple[str, str, str | None]:
    info = request.match_info
    try:
        project_id = validate_project_id(info["project_id"])
        cluster_id = validate_cluster_id(info["cluster_id"])
        workflow_id = info.get("workflow_id")
        return (
            project_id,
            cluster_id,
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
    """The aiohttp app: the four workflow operations plus `GET|POST /_sim/faults`."""
    knobs = faults if faults is not None else Faults()
    gate = _Gate(credentials, token)

    async def api(request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read()
        world.calls.append(
            Call(request.method, request.raw_path, CIMultiDict(request.headers), body)
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


@dataclass
class RunningSimulator:
    """A simulator serving on loopback: its base `url`, `world` and `faults`."""

    url: str
    world: World
    faults: Faults

    @property
    def project_id(self) -> str:
        return self.world.project_id


@contextlib.asynccontextmanager
async def running_simulator(
    world: World | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    credentials: Mapping[str, str] | None = None,
    token: str | None = None,
    faults: Faults | None = None,
) -> AsyncIterator[RunningSimulator]:
    """Serve the simulator (default scenario unless `world` is given) for the `async with` body."""
    world = world if world is not None else build_world(default_scenario())
    faults = faults if faults is not None else Faults()
    app = create_app(world, faults=faults, credentials=credentials, token=token)
    # A short shutdown timeout: a request hung by a fault must not hold up teardown.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_host, bound_port = runner.addresses[0][:2]
        yield RunningSimulator(f"http://{bound_host}:{bound_port}", world, faults)
    finally:
        await runner.cleanup()


def serve(
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    step_seconds: float = 5.0,
    scenario_path: str | Path | None = None,
    rollback_after_cancel: bool = True,
    credentials: Mapping[str, str] | None = None,
    token: str | None = None,
    out: TextIO = sys.stdout,
) -> None:
    """Run the simulator until Ctrl-C, first printing what it holds, ready to paste."""
    scenario = load_scenario(scenario_path) if scenario_path else default_scenario()
    world = build_world(
        scenario, step_seconds=step_seconds, rollback_after_cancel=rollback_after_cancel
    )
    auth = " and ".join(n for n, on in (("AK/SK", credentials), ("token", token)) if on) or "none"

    async def main() -> None:
        async with running_simulator(
            world, host=host, port=port, credentials=credentials, token=token
        ) as sim:
            rollback = "on" if rollback_after_cancel else "off"
            print(
                f"CCE Autopilot simulator on {sim.url} (step {step_seconds:g} s, "
                f"rollback after cancel {rollback}, auth {auth}); Ctrl-C stops it.\n"
                f"{describe_world(world, sim.url)}",
                file=out,
                flush=True,
            )
            if credentials or token:
                print(
                    "(auth is on: curl needs -H 'X-Auth-Token: …' or an AK/SK signature)",
                    file=out,
                    flush=True,
                )
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
