"""Serving the simulator: on loopback for tests (`running_simulator`), or until Ctrl-C (`serve`),
over HTTP or HTTPS with a certificate made at start.

`--tls` uses trustme: a throwaway CA and a server certificate made in memory, the CA written to a
temporary directory so a client can trust it (`cce.ca_bundle`). Imports the simulator's server,
scenario and world.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import trustme
from aiohttp import web

from bot.simulator.faults import Faults
from bot.simulator.scenario import build_world, default_scenario, describe_world, load_scenario
from bot.simulator.server import create_app
from bot.simulator.world import World

__all__ = ["RunningSimulator", "running_simulator", "serve"]


@dataclass
class RunningSimulator:
    """A simulator serving on loopback: its base `url`, `world` and `faults`.

    With TLS, `url` is https and `ca_path` is the PEM file of the CA that signed its certificate.
    """

    url: str
    world: World
    faults: Faults
    ca_path: Path | None = None

    @property
    def project_id(self) -> str:
        return self.world.project_id


@contextlib.contextmanager
def _certificate(host: str) -> Iterator[tuple[ssl.SSLContext, Path]]:
    """A server TLS context for `host` (and localhost), and the CA's PEM file while it lasts."""
    ca = trustme.CA()
    names = dict.fromkeys([host, "127.0.0.1", "localhost", "::1"])
    cert = ca.issue_cert(*names)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    with tempfile.TemporaryDirectory(prefix="cce-simulator-") as folder:
        path = Path(folder) / "ca.pem"
        ca.cert_pem.write_to_path(str(path))
        yield context, path


@contextlib.asynccontextmanager
async def running_simulator(
    world: World | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    credentials: Mapping[str, str] | None = None,
    token: str | None = None,
    faults: Faults | None = None,
    tls: bool = False,
    date_offset: float | None = None,
) -> AsyncIterator[RunningSimulator]:
    """Serve the simulator (default scenario unless `world` is given) for the `async with` body.

    `tls=True` serves HTTPS with a fresh certificate (`RunningSimulator.ca_path` trusts it);
    `date_offset` skews the gateway's clock by that many seconds (`Faults.date_offset`).
    """
    world = world if world is not None else build_world(default_scenario())
    faults = faults if faults is not None else Faults()
    if date_offset is not None:
        faults.date_offset = date_offset
    app = create_app(world, faults=faults, credentials=credentials, token=token)
    # A short shutdown timeout: a request hung by a fault must not hold up teardown.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
    await runner.setup()
    with contextlib.ExitStack() as stack:
        context, ca_path = stack.enter_context(_certificate(host)) if tls else (None, None)
        try:
            site = web.TCPSite(runner, host, port, ssl_context=context)
            await site.start()
            bound_host, bound_port = runner.addresses[0][:2]
            scheme = "https" if tls else "http"
            yield RunningSimulator(f"{scheme}://{bound_host}:{bound_port}", world, faults, ca_path)
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
    tls: bool = False,
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
            world, host=host, port=port, credentials=credentials, token=token, tls=tls
        ) as sim:
            rollback = "on" if rollback_after_cancel else "off"
            print(
                f"CCE Autopilot simulator on {sim.url} (step {step_seconds:g} s, "
                f"rollback after cancel {rollback}, auth {auth}); Ctrl-C stops it.\n"
                f"{describe_world(world, sim.url)}",
                file=out,
                flush=True,
            )
            if sim.ca_path is not None:
                print(
                    f"TLS: the certificate's CA is {sim.ca_path} (made now, deleted at exit): "
                    "set cce.ca_bundle to it, or curl --cacert it",
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
