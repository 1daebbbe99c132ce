"""Which cluster a command means: an alias from the config, or a raw cluster id (SPEC §2).

The parts that need a cluster (opening a request, the queries, watching) are given this one
lookup; none of them reaches into another part for it.
"""

from __future__ import annotations

from bot.approval.errors import FlowError
from bot.cce.endpoints import ClusterRef
from bot.config import Config
from bot.slack.blocks import escape

__all__ = ["ConfigClusters", "FoundCluster"]

FoundCluster = tuple[str | None, ClusterRef]
"""(the alias it was named by, or None; where the cluster's API is)."""


class ConfigClusters:
    """Clusters as the config names them."""

    def __init__(self, config: Config) -> None:
        self._config = config

    def peek(self, text: str) -> FoundCluster:
        """Resolve without any I/O (inside Slack's 3 s ack); raises `FlowError`."""
        try:
            return self._config.cluster(text)
        except LookupError as exc:
            raise FlowError(f"{escape(str(exc.args[0]))}.") from None

    async def resolve(self, text: str) -> FoundCluster:
        return self.peek(text)
