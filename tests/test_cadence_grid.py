"""The polling grid (bot/watch/cadence.py): watches on one cluster meet at the same instants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.config import WatchConfig
from bot.domain.snapshot import Snapshot, TaskLine
from bot.watch.cadence import next_poll

CONFIG = WatchConfig()  # interval 10 s, fast_interval 2 s
QUIET = Snapshot(phase="Pending", tasks=(TaskLine("PreCheck", "Success"),))
BUSY = Snapshot(phase="Running", tasks=(TaskLine("PreCheck", "Running"),))
T0 = datetime(2026, 12, 1, 8, 0, 0, 123000, tzinfo=UTC)


def test_watches_on_one_cluster_started_apart_meet_on_the_grid() -> None:
    """However far apart they were started, two watches on a cluster are next due together."""
    times = {next_poll("c-1", T0 + timedelta(seconds=s / 10), QUIET, CONFIG) for s in range(97)}
    assert len(times) <= 2  # within 9.7 s of each other: at most the next two grid points
    first = min(times)
    assert all((t - first) % timedelta(seconds=10) == timedelta(0) for t in times)


def test_each_poll_is_later_than_now_and_within_one_cadence() -> None:
    for snap, step in ((QUIET, 10), (BUSY, 2)):
        for s in range(50):
            now = T0 + timedelta(seconds=s * 0.37)
            due = next_poll("c-2", now, snap, CONFIG)
            assert now < due <= now + timedelta(seconds=step)


def test_the_slow_grid_is_on_the_fast_one() -> None:
    """A cluster's 10 s points are points of its 2 s grid, so fast and slow watches meet."""
    fast = {next_poll("c-3", T0 + timedelta(seconds=s), BUSY, CONFIG) for s in range(60)}
    slow = {next_poll("c-3", T0 + timedelta(seconds=s), QUIET, CONFIG) for s in range(50)}
    assert slow <= fast


def test_clusters_are_spread_over_the_grid() -> None:
    """Different clusters get different offsets, so their list calls do not all come at once."""
    offsets = {next_poll(f"cluster-{i}", T0, QUIET, CONFIG).microsecond for i in range(20)}
    assert len(offsets) > 10
