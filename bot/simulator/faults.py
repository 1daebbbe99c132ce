"""The simulator's fault knobs: injected statuses, hangs, dropped connections, a skewed clock.

Settable in-process or through `POST /_sim/faults`; `server` applies them. Imports nothing else
from the simulator.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Fault", "Faults"]


@dataclass(frozen=True)
class Fault:
    """One injected misbehaviour: answer `status`, hang (before applying the request), hold
    (apply it, then hold the answer back), or drop the connection."""

    kind: Literal["status", "hang", "hold", "drop"]
    status: int = 0
    retry_after: float | None = None
    after_apply: bool = True


@dataclass
class Faults:
    """Fault knobs, mutable in-process or through `POST /_sim/faults`; scripted ones come first."""

    latency: float = 0.0
    error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    retry_after: float = 1.0
    bad_gateway_rate: float = 0.0
    timeout_rate: float = 0.0
    hang_seconds: float = 30.0
    # Seconds the gateway's clock is off: its `Date` header, and the X-Sdk-Date check of AK/SK
    # signatures (refused beyond 15 minutes), both use the skewed clock.
    date_offset: float = 0.0
    seed: int = 0
    rng: random.Random = field(init=False, repr=False)
    scripted: deque[Fault] = field(default_factory=deque)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)  # noqa: S311  reproducible fault injection, not crypto

    def fail_next(self, status: int, count: int = 1, retry_after: float | None = None) -> None:
        """Answer the next `count` API requests with `status` (502 is an HTML page)."""
        self.scripted.extend(Fault("status", status, retry_after) for _ in range(count))

    def drop_next(self, count: int = 1, *, after_apply: bool = True) -> None:
        """Close the connection without an answer, after (default) or before applying it."""
        self.scripted.extend(Fault("drop", after_apply=after_apply) for _ in range(count))

    def clear(self) -> None:
        self.latency = self.error_rate = self.rate_limit_rate = 0.0
        self.bad_gateway_rate = self.timeout_rate = self.date_offset = 0.0
        self.scripted.clear()

    def take(self) -> Fault | None:
        """The fault for the request at hand, if any."""
        if self.scripted:
            return self.scripted.popleft()
        roll = self.rng.random()
        for rate, fault in (
            (self.error_rate, Fault("status", 503)),
            (self.rate_limit_rate, Fault("status", 429)),
            (self.bad_gateway_rate, Fault("status", 502)),
            (self.timeout_rate, Fault("hang")),
        ):
            if roll < rate:
                return fault
            roll -= rate
        return None

    def update(self, data: Mapping[str, Any]) -> None:
        """Apply a `/_sim/faults` body: knob values, `seed`, `clear`, `fail_next`, `drop_next`."""
        if data.get("clear"):
            self.clear()
        for name in (
            "latency",
            "error_rate",
            "rate_limit_rate",
            "retry_after",
            "bad_gateway_rate",
            "timeout_rate",
            "hang_seconds",
            "date_offset",
        ):
            if name in data:
                setattr(self, name, float(data[name]))
        if "seed" in data:
            self.seed = int(data["seed"])
            self.__post_init__()
        if (fail := data.get("fail_next")) is not None:
            self.fail_next(int(fail["status"]), int(fail.get("count", 1)), fail.get("retry_after"))
        if (drop := data.get("drop_next")) is not None:
            self.drop_next(int(drop.get("count", 1)), after_apply=bool(drop.get("after_apply", 1)))

    def as_json(self) -> dict[str, Any]:
        knobs = (
            "latency",
            "error_rate",
            "rate_limit_rate",
            "retry_after",
            "bad_gateway_rate",
            "timeout_rate",
            "hang_seconds",
            "date_offset",
            "seed",
        )
        return {name: getattr(self, name) for name in knobs} | {"scripted": len(self.scripted)}
