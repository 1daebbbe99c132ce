"""The audit record of what happened to a request: who did what, when, with the API's request id.

One helper for the approval parts (each used to write the same `AuditLog.add` call out).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from bot.store.audit import AuditLog

__all__ = ["RequestAudit", "Subject"]


class Subject(Protocol):
    """What an entry is about: a request (stored or about to be), its cluster and workflow."""

    @property
    def approval_id(self) -> str: ...
    @property
    def cluster_id(self) -> str: ...
    @property
    def workflow_id(self) -> str: ...


class RequestAudit:
    def __init__(self, audit: AuditLog, clock: Callable[[], datetime]) -> None:
        self._audit = audit
        self._clock = clock

    async def record(
        self,
        about: Subject,
        action: str,
        *,
        actor: str = "bot",
        request_id: str | None = None,
        **detail: Any,
    ) -> None:
        await self._audit.add(
            at=self._clock(),
            actor=actor,
            action=action,
            approval_id=about.approval_id,
            cluster_id=about.cluster_id,
            workflow_id=about.workflow_id,
            request_id=request_id,
            **detail,
        )

    async def refused(
        self, *, actor: str, cluster_id: str, workflow_id: str, reasons: list[str]
    ) -> None:
        """A request that was not opened (the pre-check refused it): no request id to name."""
        await self._audit.add(
            at=self._clock(),
            actor=actor,
            action="request.refused",
            cluster_id=cluster_id,
            workflow_id=workflow_id,
            reasons=reasons,
        )
