"""When a watch is next polled (SPEC §5): fast while something happens, and on its cluster's grid.

Watches on one cluster are polled at the same instants — the points of a grid whose offset comes
from the cluster's id — so a single list call serves all those due together (`ClusterReads`),
whenever each watch was started. The slow grid's points are points of the fast one when
`watch.interval` is a multiple of `watch.fast_interval` (10 s and 2 s by default), so a cluster's
fast and slow watches meet too. A poll that ran late does not push later ones back.
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime, timedelta

from bot.config import WatchConfig
from bot.domain.progress import rollback_expected, running
from bot.domain.snapshot import Snapshot

__all__ = ["cadence", "next_poll"]

_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def cadence(snap: Snapshot, config: WatchConfig) -> timedelta:
    """How often to look: fast while a task runs or a Rollback is expected, else the interval."""
    return config.fast_interval if running(snap) or rollback_expected(snap) else config.interval


def next_poll(cluster_id: str, after: datetime, snap: Snapshot, config: WatchConfig) -> datetime:
    """The first point of the cluster's grid for this cadence that is later than `after`."""
    step = cadence(snap, config) // _MS
    offset = zlib.crc32(cluster_id.encode()) % (config.fast_interval // _MS)
    since = (after - _EPOCH) // _MS - offset
    return _EPOCH + (offset + (since // step + 1) * step) * _MS
