"""A local CCE Autopilot upgrade-workflow API (SPEC §8) for tests, the demo and trial runs.

`world` holds the state (`state`) and plays the `rules`, `render` shows it as the API's JSON,
`scenario` seeds it, `server` answers HTTP with auth and the `faults` knobs, `serving` runs it
(HTTP or HTTPS).
Nothing here is imported by the bot itself.
"""

from __future__ import annotations

from bot.simulator.scenario import (
    Scenario,
    build_world,
    default_scenario,
    default_world,
    describe_world,
    load_scenario,
)
from bot.simulator.server import Fault, Faults, create_app
from bot.simulator.serving import RunningSimulator, running_simulator, serve
from bot.simulator.world import (
    CANCEL_REFUSED_CODE,
    NOT_FOUND_CODE,
    Call,
    Line,
    Step,
    World,
    WorldError,
    cancel_refusal,
)

__all__ = [
    "CANCEL_REFUSED_CODE",
    "NOT_FOUND_CODE",
    "Call",
    "Fault",
    "Faults",
    "Line",
    "RunningSimulator",
    "Scenario",
    "Step",
    "World",
    "WorldError",
    "build_world",
    "cancel_refusal",
    "create_app",
    "default_scenario",
    "default_world",
    "describe_world",
    "load_scenario",
    "running_simulator",
    "serve",
]
