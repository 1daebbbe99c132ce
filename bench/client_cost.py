"""What one CCEClient read costs the bot: throughput, client CPU per request and latency.

Starts the simulator in a subprocess (AK/SK and a static token both accepted), so
`time.process_time()` here measures the client alone. Runs N signed `show_workflow` reads through
one shared client with bounded concurrency, then, as a same-run baseline, a bare
`httpx.AsyncClient` GET loop (static token header: no signing, no models, no retries) against the
same server. A third row, our client with token auth, separates signing from the rest.

Then, against the same simulator process, the official SDK (`huaweicloudsdkcce`, optional:
`pip install -e '.[bench]'`) does the same signed read, `show_autopilot_upgrade_work_flow`, the
ways a user would run it: the sync `CceClient` from one thread, the same client shared by a
`ThreadPoolExecutor` of `--concurrency` threads, and `CceAsyncClient` (futures on the SDK's own
8-thread executor, so at most 8 run) with `--concurrency` reads submitted. `time.process_time()`
counts every thread of this process, the SDK's executor threads included.

    python bench/client_cost.py [--requests 2000] [--concurrency 20] [--warmup 200]
                                [--schemes http,https] [--rounds 3] [--json PATH]

Each scheme gets its own simulator: `https` is the simulator's `--tls` (a certificate made at
start), which every client here trusts through the simulator's CA file (ours through
`cce.ca_bundle`'s path, the SDK through `HttpConfig.ssl_ca_cert`); all of them keep their
connections alive, so a TLS handshake is paid once per connection, not per read. The last line
of each scheme is the target check (≤ 0.5×): our AK/SK client's CPU per read over the official
SDK's in its cheapest mode, the median over `--rounds` rounds (each round runs every row of ours,
then every mode of the SDK; a single pass moves by ±10 % on a shared 2-vCPU box). Without the
SDK installed it says so instead. `--json` writes the figures for `bench/report.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bot.cce.client import CCEClient, RetryPolicy, http_client
from bot.cce.endpoints import ClusterRef
from bot.cce.signing import AKSKAuth, Credentials, TokenAuth

AK, SK, TOKEN = "AKBENCH", "SKBENCH", "tokbench"
PROJECT = "47eb1d64cbeb45cfa01ae20af4f4b563"
CLUSTER = "3f6c2a9e-1b7d-4c1e-9a2f-5d8e7b6a4c01"
WORKFLOW = "8a1d4e2f-6b3c-4f7a-9e1d-2c5b8a7f3e01"
NAME_WIDTH = 26
NO_SDK = "official SDK not installed: pip install -e '.[bench]'"
SERVE = (
    "from bot.simulator import serve; "
    f"serve(port=0, credentials={{{AK!r}: {SK!r}}}, token={TOKEN!r}, tls=TLS)"
)


@dataclass(frozen=True)
class Result:
    name: str
    requests: int
    wall: float
    cpu: float
    latencies: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.wall

    @property
    def cpu_ms(self) -> float:
        return self.cpu * 1000 / self.requests

    def pct(self, q: int) -> float:
        """The q-th percentile latency in ms."""
        cuts = statistics.quantiles(self.latencies, n=100, method="inclusive")
        return cuts[q - 1] * 1000

    def row(self) -> str:
        return (
            f"{self.name:<{NAME_WIDTH}} {self.rps:>9.0f} {self.cpu_ms:>13.3f} "
            f"{self.pct(50):>8.2f} {self.pct(99):>8.2f}"
        )


def start_simulator(tls: bool) -> tuple[subprocess.Popen[str], str, Path | None]:
    """The simulator in a subprocess; its URL, and its CA's PEM file when `tls`."""
    proc = subprocess.Popen(  # noqa: S603  our own interpreter running our own module
        [sys.executable, "-c", SERVE.replace("TLS", str(tls))], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    match = re.search(r"on (https?://\S+)", first)
    if match is None:
        proc.terminate()
        raise SystemExit(f"the simulator did not start: {first!r}")
    ca_path = None
    while tls and ca_path is None:
        line = proc.stdout.readline()
        found = re.search(r"CA is (\S+) ", line)
        if found:
            ca_path = Path(found.group(1))
        elif not line:
            proc.terminate()
            raise SystemExit("the simulator did not say where its CA is")
    return proc, match.group(1), ca_path


async def run(
    name: str, call: Callable[[], Awaitable[None]], requests: int, concurrency: int
) -> Result:
    latencies: list[float] = []
    remaining = requests

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - started)

    cpu0, wall0 = time.process_time(), time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(worker())
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return Result(name, requests, wall, cpu, latencies)


def _http(
    concurrency: int,
    ca_path: Path | None,
    auth: httpx.Auth | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.AsyncClient:
    """The client the bot builds (`bot.cce.client.http_client`: httpx on aiohttp's pool)."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    client = http_client(auth, limits=limits, ca_bundle=ca_path)
    client.headers.update(headers or {})
    return client


async def bench(
    url: str, ca_path: Path | None, requests: int, concurrency: int, warmup: int
) -> list[Result]:
    cluster = ClusterRef(PROJECT, CLUSTER, url)
    signed = _http(concurrency, ca_path, auth=AKSKAuth(Credentials(AK, SK)))
    ours = CCEClient(signed, retry=RetryPolicy())
    ours_token = CCEClient(_http(concurrency, ca_path, auth=TokenAuth(TOKEN)), retry=RetryPolicy())
    bare = _http(concurrency, ca_path, headers={"X-Auth-Token": TOKEN})
    bare_url = f"{cluster.endpoint}{cluster.workflows_path}/{WORKFLOW}"

    async def show_signed() -> None:
        task = await ours.show_workflow(cluster, WORKFLOW)
        assert task.workflow_id == WORKFLOW

    async def show_token() -> None:
        task = await ours_token.show_workflow(cluster, WORKFLOW)
        assert task.workflow_id == WORKFLOW

    async def bare_get() -> None:
        response = await bare.get(bare_url)
        assert response.status_code == 200, response.status_code

    cases = [
        ("CCEClient, AK/SK", show_signed),
        ("bare httpx GET", bare_get),
        ("CCEClient, token", show_token),
    ]
    try:
        for _, call in cases:  # open the connections, warm the caches
            await run("warmup", call, warmup, concurrency)
        return [await run(name, call, requests, concurrency) for name, call in cases]
    finally:
        await ours.aclose()
        await ours_token.aclose()
        await bare.aclose()


# -- the official SDK, same simulator, same read ------------------------------------------------


def _no_proxies() -> None:
    """Loopback only: drop proxy settings `requests` (and httpx) would pick up from the env."""
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        os.environ.pop(name, None)
        os.environ.pop(name.upper(), None)


def sdk_installed() -> bool:
    try:
        import huaweicloudsdkcce.v3  # noqa: F401
        import huaweicloudsdkcore  # noqa: F401
    except ImportError:
        return False
    return True


def _sdk_client(async_client: bool, url: str, ca_path: Path | None, concurrency: int) -> Any:
    """A CceClient (or CceAsyncClient) on the simulator; no region, so no IAM or region lookup.

    `with_endpoints` alone, and a project id in the credentials: the SDK only asks IAM for the
    project when a region is given and the project id is missing. The pool is widened to the
    thread count (default 10), as ours is, so threads beyond 10 do not reconnect every call.
    """
    from huaweicloudsdkcce.v3 import CceAsyncClient, CceClient
    from huaweicloudsdkcore.auth.credentials import BasicCredentials
    from huaweicloudsdkcore.http.http_config import HttpConfig

    config = HttpConfig.get_default_config()
    config.pool_connections = config.pool_maxsize = max(10, concurrency)
    if ca_path is not None:  # HTTPS: trust the simulator's CA, as ours does
        config.ssl_ca_cert = str(ca_path)
    kind = CceAsyncClient if async_client else CceClient
    return (
        kind.new_builder()
        .with_credentials(BasicCredentials(AK, SK, PROJECT))
        .with_endpoints([url])
        .with_http_config(config)
        .build()
    )


def _timed(name: str, requests: int, body: Callable[[list[float]], None]) -> Result:
    latencies: list[float] = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    body(latencies)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    assert len(latencies) == requests, (len(latencies), requests)
    return Result(name, requests, wall, cpu, latencies)


def _sequential(name: str, call: Callable[[], None], requests: int) -> Result:
    def body(latencies: list[float]) -> None:
        for _ in range(requests):
            started = time.perf_counter()
            call()
            latencies.append(time.perf_counter() - started)

    return _timed(name, requests, body)


def _threaded(
    name: str, call: Callable[[], None], requests: int, pool: ThreadPoolExecutor, threads: int
) -> Result:
    lock = threading.Lock()
    remaining = requests

    def worker(latencies: list[float]) -> None:
        nonlocal remaining
        while True:
            with lock:
                if remaining <= 0:
                    return
                remaining -= 1
            started = time.perf_counter()
            call()
            latencies.append(time.perf_counter() - started)

    def body(latencies: list[float]) -> None:
        for future in [pool.submit(worker, latencies) for _ in range(threads)]:
            future.result()

    return _timed(name, requests, body)


def _windowed(name: str, submit: Callable[[], Any], requests: int, window: int) -> Result:
    """Keep `window` async-client reads submitted; its executor is FIFO, so wait oldest first."""

    def body(latencies: list[float]) -> None:
        flight: deque[tuple[float, Any]] = deque()

        def settle() -> None:
            started, future = flight.popleft()
            response = future.result()
            latencies.append(time.perf_counter() - started)
            assert response.metadata.uid == WORKFLOW

        for _ in range(requests):
            if len(flight) >= window:
                settle()
            flight.append((time.perf_counter(), submit()))
        while flight:
            settle()

    return _timed(name, requests, body)


def bench_sdk(
    url: str, ca_path: Path | None, requests: int, concurrency: int, warmup: int
) -> list[Result]:
    """The official SDK's rows: sync from one thread, sync from N threads, the async client."""
    from huaweicloudsdkcce.v3 import ShowAutopilotUpgradeWorkFlowRequest

    sync = _sdk_client(False, url, ca_path, concurrency)
    futures = _sdk_client(True, url, ca_path, concurrency)

    def request() -> Any:
        return ShowAutopilotUpgradeWorkFlowRequest(cluster_id=CLUSTER, upgrade_workflow_id=WORKFLOW)

    def show() -> None:
        response = sync.show_autopilot_upgrade_work_flow(request())
        assert response.metadata.uid == WORKFLOW

    def submit() -> Any:
        return futures.show_autopilot_upgrade_work_flow_async(request())

    results = []
    try:
        _sequential("warmup", show, warmup)
        results.append(_sequential("SDK sync, 1 thread", show, requests))
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            _threaded("warmup", show, warmup, pool, concurrency)
            results.append(
                _threaded(f"SDK sync, pool of {concurrency}", show, requests, pool, concurrency)
            )
        _windowed("warmup", submit, warmup, concurrency)
        name = f"SDK async, {concurrency} queued"  # at most 8 run: the SDK's executor
        results.append(_windowed(name, submit, requests, concurrency))
    finally:
        sync.close()
        futures.close()
    return results


def _pooled(rounds: list[list[Result]]) -> list[Result]:
    """Each row's runs over all rounds as one result."""
    return [
        Result(
            runs[0].name,
            sum(r.requests for r in runs),
            sum(r.wall for r in runs),
            sum(r.cpu for r in runs),
            [x for r in runs for x in r.latencies],
        )
        for runs in zip(*rounds, strict=True)
    ]


def measure(scheme: str, args: argparse.Namespace, with_sdk: bool) -> dict[str, Any]:
    """Every row for one scheme against its own simulator, `--rounds` times over (ours, then
    the SDK, in each round); print them pooled, return the figures."""
    proc, url, ca_path = start_simulator(tls=scheme == "https")
    ours_rounds: list[list[Result]] = []
    sdk_rounds: list[list[Result]] = []
    try:
        for _ in range(args.rounds):
            ours_rounds.append(
                asyncio.run(bench(url, ca_path, args.requests, args.concurrency, args.warmup))
            )
            if with_sdk:
                sdk_rounds.append(
                    bench_sdk(url, ca_path, args.requests, args.concurrency, args.warmup)
                )
    finally:
        proc.terminate()
        proc.wait(timeout=5)

    results, sdk = _pooled(ours_rounds), _pooled(sdk_rounds) if sdk_rounds else []
    print(
        f"{scheme}: {args.requests} show_workflow reads per row and round, {args.rounds} rounds, "
        f"concurrency {args.concurrency}, simulator in a subprocess at {url}, connections kept "
        "alive"
    )
    header = f"{'':<{NAME_WIDTH}} {'req/s':>9} {'client CPU ms':>13} {'p50 ms':>8} {'p99 ms':>8}"
    print(header)
    for result in [*results, *sdk]:
        print(result.row())
    signed, bare = results[0], results[1]
    print(
        f"ratio ours/bare: client CPU per request {signed.cpu_ms / bare.cpu_ms:.2f}x, "
        f"p50 {signed.pct(50) / bare.pct(50):.2f}x, p99 {signed.pct(99) / bare.pct(99):.2f}x, "
        f"req/s {signed.rps / bare.rps:.2f}x"
    )
    figures: dict[str, Any] = {
        "rows": {
            r.name: {"cpu_ms": round(r.cpu_ms, 3), "rps": round(r.rps)} for r in results + sdk
        },
        "ours_cpu_ms": round(signed.cpu_ms, 3),
        "bare_cpu_ms": round(bare.cpu_ms, 3),
        "ratio_bare": round(signed.cpu_ms / bare.cpu_ms, 2),
        "rps": round(signed.rps),
    }
    if not sdk:
        print(NO_SDK)
        return figures
    print(
        "ratio ours/SDK, client CPU per request: "
        + ", ".join(f"{r.name} {signed.cpu_ms / r.cpu_ms:.2f}x" for r in sdk)
    )
    # Per round: ours over the SDK's cheapest mode of that round; the target is their median.
    per_round = [
        ours[0].cpu_ms / min(r.cpu_ms for r in theirs)
        for ours, theirs in zip(ours_rounds, sdk_rounds, strict=True)
    ]
    ratio = statistics.median(per_round)
    cheapest = min(sdk, key=lambda r: r.cpu_ms)
    verdict = "met" if ratio <= 0.5 else "missed"
    print(
        f"{scheme}: ours costs {ratio:.2f}× the official SDK's CPU per read (median of "
        f"{args.rounds} rounds: {', '.join(f'{r:.2f}' for r in per_round)}; target ≤ 0.5×): "
        f"{verdict}; pooled, against its cheapest mode ({cheapest.name}): "
        f"{signed.cpu_ms / cheapest.cpu_ms:.2f}×"
    )
    sdk_ms = [r.cpu_ms for r in sdk]
    figures |= {
        "sdk_cpu_ms_min": round(min(sdk_ms), 3),
        "sdk_cpu_ms_max": round(max(sdk_ms), 3),
        "ratio_sdk": round(ratio, 2),
        "ratio_sdk_rounds": [round(r, 2) for r in per_round],
        "sdk_cheapest": cheapest.name,
    }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--schemes", default="http,https", help="http, https, or both")
    parser.add_argument("--rounds", type=int, default=3, help="ours then the SDK, this often")
    parser.add_argument("--json", help="write the figures here (for bench/report.py)")
    args = parser.parse_args()

    _no_proxies()
    with_sdk = sdk_installed()
    figures = {s: measure(s, args, with_sdk) for s in args.schemes.split(",") if s}
    if args.json:
        out = {"benchmark": "client_cost", "args": vars(args) | {"json": None}, **figures}
        Path(args.json).write_text(json.dumps(out, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
