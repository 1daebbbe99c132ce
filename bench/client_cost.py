"""What one CCEClient read costs the bot: throughput, client CPU per request and latency.

Starts the simulator in a subprocess (AK/SK and a static token both accepted), so
`time.process_time()` here measures the client alone. Runs N signed `show_workflow` reads through
one shared client with bounded concurrency, then, as a same-run baseline, a bare
`httpx.AsyncClient` GET loop (static token header: no signing, no models, no retries) against the
same server. A third row, our client with token auth, separates signing from the rest.

    python bench/client_cost.py [--requests 2000] [--concurrency 20] [--warmup 200]

The last line is the ratio ours (AK/SK) / bare.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from bot.cce.client import CCEClient, RetryPolicy, default_timeout
from bot.cce.endpoints import ClusterRef
from bot.cce.signing import AKSKAuth, Credentials, TokenAuth

AK, SK, TOKEN = "AKBENCH", "SKBENCH", "tokbench"
CLUSTER = "3f6c2a9e-1b7d-4c1e-9a2f-5d8e7b6a4c01"
WORKFLOW = "8a1d4e2f-6b3c-4f7a-9e1d-2c5b8a7f3e01"
SERVE = (
    "from bot.simulator import serve; "
    f"serve(port=0, credentials={{{AK!r}: {SK!r}}}, token={TOKEN!r})"
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
            f"{self.name:<22} {self.rps:>9.0f} {self.cpu_ms:>13.3f} "
            f"{self.pct(50):>8.2f} {self.pct(99):>8.2f}"
        )


def start_simulator() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(  # noqa: S603  our own interpreter running our own module
        [sys.executable, "-c", SERVE], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    match = re.search(r"on (http://\S+)", first)
    if match is None:
        proc.terminate()
        raise SystemExit(f"the simulator did not start: {first!r}")
    return proc, match.group(1)


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


def _http(concurrency: int, **kwargs: object) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return httpx.AsyncClient(timeout=default_timeout(), limits=limits, **kwargs)  # type: ignore[arg-type]


async def bench(url: str, requests: int, concurrency: int, warmup: int) -> list[Result]:
    cluster = ClusterRef("47eb1d64cbeb45cfa01ae20af4f4b563", CLUSTER, url)
    ours = CCEClient(_http(concurrency, auth=AKSKAuth(Credentials(AK, SK))), retry=RetryPolicy())
    ours_token = CCEClient(_http(concurrency, auth=TokenAuth(TOKEN)), retry=RetryPolicy())
    bare = _http(concurrency, headers={"X-Auth-Token": TOKEN})
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args()

    proc, url = start_simulator()
    try:
        results = asyncio.run(bench(url, args.requests, args.concurrency, args.warmup))
    finally:
        proc.terminate()
        proc.wait(timeout=5)

    print(
        f"{args.requests} show_workflow reads, concurrency {args.concurrency}, "
        f"simulator in a subprocess at {url}"
    )
    print(f"{'':<22} {'req/s':>9} {'client CPU ms':>13} {'p50 ms':>8} {'p99 ms':>8}")
    for result in results:
        print(result.row())
    signed, bare = results[0], results[1]
    print(
        f"ratio ours/bare: client CPU per request {signed.cpu_ms / bare.cpu_ms:.2f}x, "
        f"p50 {signed.pct(50) / bare.pct(50):.2f}x, p99 {signed.pct(99) / bare.pct(99):.2f}x, "
        f"req/s {signed.rps / bare.rps:.2f}x"
    )


if __name__ == "__main__":
    main()
