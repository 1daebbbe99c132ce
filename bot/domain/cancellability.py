"""May this upgrade workflow be cancelled now? A pure function of the workflow (SPEC §4).

The API refuses a cancel unless the phase is Init or Pending, while any task is Running, Init,
Pause or Queuing/Queue, and while a critical line's end task has not started. The bot checks the
same rules before asking anyone; the API's own answer stays the final word.
A function of the domain's `Snapshot`: knows nothing about Slack, HTTP or the wire model.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.domain.snapshot import ACTIVE_TASK_STATUSES, Snapshot

__all__ = ["ACTIVE_TASK_STATUSES", "Blocker", "Rule", "Verdict", "cancellability"]

_CANCELLABLE_PHASES = {"init", "pending"}
_KNOWN_PHASES = {"init", "pending", "running", "success", "cancel"}
_SETTLED_TASK_STATUSES = {"success", "failed"}


class Rule(StrEnum):
    """Which rule of SPEC §4 blocks the cancel."""

    PHASE = "phase"
    TASK_ACTIVE = "task_active"
    CRITICAL_PATH = "critical_path"


@dataclass(frozen=True)
class Blocker:
    rule: Rule
    message: str


@dataclass(frozen=True)
class Verdict:
    """The outcome: cancellable or not, what blocks, and notes about values we do not know."""

    blockers: tuple[Blocker, ...]
    notes: tuple[str, ...] = ()

    @property
    def cancellable(self) -> bool:
        return not self.blockers

    def explain(self) -> str:
        """One readable paragraph: why not, or that it may be cancelled."""
        if self.cancellable:
            return "The workflow may be cancelled now."
        return " ".join(b.message for b in self.blockers)


def _phase_blocker(phase: str | None) -> Blocker | None:
    if phase is None or not phase.strip():
        return Blocker(
            Rule.PHASE,
            "The workflow reports no phase; the API accepts a cancel only "
            "in phase Init or Pending.",
        )
    lowered = phase.strip().lower()
    if lowered in _CANCELLABLE_PHASES:
        return None
    if lowered in _KNOWN_PHASES:
        return Blocker(
            Rule.PHASE,
            f"The workflow is in phase {phase}; the API accepts a cancel "
            "only in phase Init or Pending.",
        )
    return Blocker(
        Rule.PHASE,
        f"The workflow is in phase {phase!r}, which the API documentation "
        "does not list (unknown); a cancel is accepted only in phase Init or Pending.",
    )


def cancellability(workflow: Snapshot) -> Verdict:
    """Apply every rule of SPEC §4 and return all that block, not just the first."""
    blockers: list[Blocker] = []
    notes: list[str] = []
    phase = _phase_blocker(workflow.phase)
    if phase is not None:
        blockers.append(phase)
    started: set[str] = set()
    for point in workflow.tasks:
        name = point.task_type if point.task_type not in ("", "?") else "unnamed task"
        if point.status is None or not point.status.strip():
            continue  # not started: does not block
        started.add(name.lower())
        status = point.status.strip().lower()
        if status in ACTIVE_TASK_STATUSES:
            blockers.append(
                Blocker(
                    Rule.TASK_ACTIVE,
                    f"Task {name} is {point.status}; no task "
                    "may be Running, Init, Pause or Queuing when cancelling.",
                )
            )
        elif status not in _SETTLED_TASK_STATUSES:
            notes.append(
                f"Task {name} has status {point.status!r}, which the API documentation "
                "does not list (unknown); the API will decide."
            )
    for line in workflow.lines:
        end = line.end or ""
        if line.critical and end.lower() not in started:
            start = line.start or "?"
            blockers.append(
                Blocker(
                    Rule.CRITICAL_PATH,
                    f"The critical path {start} → "
                    f"{end or '?'} has not run yet; the upgrade can be cancelled "
                    "only after its critical path has been executed.",
                )
            )
    return Verdict(tuple(blockers), tuple(notes))
