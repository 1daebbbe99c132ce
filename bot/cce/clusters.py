"""Finding clusters for commands: an alias, the API's cluster name, or a raw cluster id (SPEC §2).

Each project's cluster list (ListAutopilotClusters) is kept for `ttl` and listed again at once
when a name or id is not found: at most once per lookup, and concurrent lookups share one list
call per project. A project whose list fails keeps its last good list; the failure is raised only
when it matters (the name was found nowhere else). Text that is not a well-formed alias, name or
id is refused before any request. What it answers is in `found`. Imports the client, refs and
ids; nothing from Slack or the store.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.cce.client import CCEClient
from bot.cce.endpoints import ClusterRef, ProjectRef
from bot.cce.errors import CCEError
from bot.cce.found import (
    AmbiguousCluster,
    ClusterListing,
    ClusterLookupError,
    ClustersUnavailable,
    FoundCluster,
    InvalidClusterName,
    UnknownCluster,
    Unlisted,
)
from bot.cce.models import Cluster
from bot.domain.ids import InvalidID, validate_cluster_id

__all__ = [
    "AmbiguousCluster",
    "ClusterDirectory",
    "ClusterListing",
    "ClusterLookupError",
    "ClustersUnavailable",
    "FoundCluster",
    "InvalidClusterName",
    "UnknownCluster",
    "Unlisted",
]

logger = logging.getLogger(__name__)

# CCE names: letters, digits and hyphens (we also let `_` and `.` by, for aliases), ≤ 128.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_UUID_SHAPE = re.compile(r"[0-9A-Fa-f]{8}(-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}")


@dataclass
class _Listing:
    clusters: tuple[Cluster, ...] = ()
    listed: datetime | None = None  # when the last good list was asked for
    tried: datetime | None = None  # when the last list call started (good or not)
    round: int = 0  # which list call of the directory's that was (0: never listed)
    failure: Unlisted | None = None  # set while the last call failed
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    # `clusters` as FoundClusters, made once per list (every lookup and keystroke reads them)
    found: tuple[FoundCluster, ...] | None = field(default=None, repr=False)


def _shown(text: str) -> str:
    cut = text if len(text) <= 64 else text[:61] + "..."
    return cut.replace("`", "'") if cut.isprintable() else repr(cut)


class ClusterDirectory:
    """Resolves what a person typed to a cluster: alias → name (any project) → cluster id.

    `aliases` come from the config's `clusters:`, `projects` from `projects:`; the
    `default_project` (CCE_PROJECT_ID) is listed too, and takes raw ids found nowhere else.
    """

    def __init__(
        self,
        *,
        aliases: Mapping[str, ClusterRef],
        projects: Sequence[ProjectRef],
        default_project: ProjectRef | None,
        cce: CCEClient,
        clock: Callable[[], datetime],
        ttl: timedelta = timedelta(minutes=5),
        retry_after_failure: timedelta = timedelta(seconds=30),
    ) -> None:
        self._aliases = dict(aliases)
        self._folded = {alias.lower(): alias for alias in reversed(list(self._aliases))}
        self._default = default_project
        listed = [*projects, *([default_project] if default_project else [])]
        unique = {p.project_id: p for p in reversed(listed)}  # first mention wins
        self._listings = {p: _Listing() for p in reversed(list(unique.values()))}
        self._cce = cce
        self._clock = clock
        self._ttl = ttl
        self._retry_after_failure = retry_after_failure
        self._rounds = 0  # list calls started so far: what "listed since" counts in
        self._generation = 0  # bumped whenever a project's clusters are replaced
        # Suggestions per (typed, limit) for the current generation: the modal asks on every
        # keystroke, and people type the same prefixes.
        self._suggested: dict[tuple[str, int], tuple[FoundCluster, ...]] = {}
        self._suggested_generation = 0

    # -- lookups -------------------------------------------------------------------------------

    async def resolve(self, text: str, *, background: bool = False) -> FoundCluster:
        """The cluster `text` names; a `ClusterLookupError` says why not."""
        cluster_id, found = self._known_without_io(text)
        if found is not None:
            return found
        mark = self._rounds
        await self._refresh(self._stale(), background)
        matches = self._find(text, cluster_id)
        if not matches:
            await self._refresh(self._not_listed_since(mark), background)
            matches = self._find(text, cluster_id)
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise AmbiguousCluster(self._ambiguous(text, matches), matches)
        if cluster_id is not None and self._default is not None:
            return self._in(self._default, cluster_id)
        unlisted = self._unlisted()
        if unlisted:
            why = "; ".join(f"project {u.project.project_id}: {u.reason}" for u in unlisted)
            raise ClustersUnavailable(
                f"Cluster `{_shown(text)}` was not found, and not every project could be "
                f"listed ({why})",
                unlisted,
            )
        raise UnknownCluster(self._unknown(text, cluster_id), self._known())

    def peek(self, text: str) -> FoundCluster | None:
        """`resolve` without I/O: from aliases and fresh lists only; None when it cannot tell.

        Raises `InvalidClusterName` for text that could never name a cluster.
        """
        cluster_id, found = self._known_without_io(text)
        if found is not None:
            return found
        if self._stale() or self._unlisted():
            return None
        matches = self._find(text, cluster_id)
        if len(matches) == 1:
            return matches[0]
        if not matches and cluster_id is not None and self._default is not None:
            return self._in(self._default, cluster_id)
        return None

    async def clusters(self, *, background: bool = False) -> ClusterListing:
        """Every cluster the bot can see (aliased ones first), and projects it could not list."""
        await self._refresh(self._stale(), background)
        return self._listing()

    def _listing(self) -> ClusterListing:
        found = [self._with_details(alias, ref) for alias, ref in self._aliases.items()]
        aliased = {(f.project_id, f.cluster_id) for f in found}
        for project in self._listings:
            found += [
                f for f in self._listed(project) if (f.project_id, f.cluster_id) not in aliased
            ]
        return ClusterListing(tuple(found), self._unlisted())

    async def suggest(
        self, typed: str, limit: int = 100, *, background: bool = False
    ) -> list[FoundCluster]:
        """Clusters whose alias, name or id contains `typed` (those starting with it first)."""
        needle = typed.strip().lower()
        await self._refresh(self._stale(), background)
        if self._suggested_generation != self._generation or len(self._suggested) > 256:
            self._suggested, self._suggested_generation = {}, self._generation
        key = (needle, limit)
        if key in self._suggested:
            return list(self._suggested[key])

        starts: list[FoundCluster] = []
        contains: list[FoundCluster] = []
        for found in self._listing().clusters:  # one pass, and only for what is not cached
            keys = [k.lower() for k in (found.alias, found.name, found.cluster_id) if k]
            if any(k.startswith(needle) for k in keys):
                starts.append(found)
            elif any(needle in k for k in keys):
                contains.append(found)
        self._suggested[key] = tuple((starts + contains)[: max(limit, 0)])
        return list(self._suggested[key])

    # -- internals ---------------------------------------------------------------------------

    def _known_without_io(self, text: str) -> tuple[str | None, FoundCluster | None]:
        """The cluster id `text` is (None for a name), and the alias it matches, if any."""
        alias = text if text in self._aliases else self._folded.get(text.lower())
        if alias is not None:
            return None, self._with_details(alias, self._aliases[alias])
        cluster_id = self._check(text)
        for alias, ref in self._aliases.items():
            if cluster_id is not None and ref.cluster_id == cluster_id:
                return cluster_id, self._with_details(alias, ref)
        return cluster_id, None

    @staticmethod
    def _in(project: ProjectRef, cluster_id: str) -> FoundCluster:
        return FoundCluster(ClusterRef(project.project_id, cluster_id, project.endpoint))

    def _check(self, text: str) -> str | None:
        """The cluster id if `text` is one; None for a name; `InvalidClusterName` otherwise."""
        if _UUID_SHAPE.fullmatch(text):
            try:
                return validate_cluster_id(text)
            except InvalidID:
                pass
        elif _NAME.fullmatch(text):
            return None
        raise InvalidClusterName(
            f"`{_shown(text)}` is not a cluster alias, name or id: a name is letters, digits, "
            "`-`, `_` and `.` (up to 128), an id is a UUID"
        )

    def _with_details(self, alias: str, ref: ClusterRef) -> FoundCluster:
        for project, listing in self._listings.items():
            if project.project_id == ref.project_id:
                for cluster in listing.clusters:
                    if (cluster.cluster_id or "").lower() == ref.cluster_id:
                        return _found(ref, cluster, alias)
        return FoundCluster(ref, alias)

    def _listed(self, project: ProjectRef) -> list[FoundCluster]:
        listing = self._listings[project]
        if listing.found is None:
            listing.found = tuple(self._make_found(project, listing.clusters))
        return list(listing.found)

    def _make_found(self, project: ProjectRef, clusters: Iterable[Cluster]) -> list[FoundCluster]:
        found = []
        for cluster in clusters:
            try:
                ref = ClusterRef(project.project_id, cluster.cluster_id or "", project.endpoint)
            except CCEError:  # an id we could not put in a URL: not a cluster we can act on
                continue
            alias = next((a for a, r in self._aliases.items() if r == ref), None)
            found.append(_found(ref, cluster, alias))
        return found

    def _find(self, text: str, cluster_id: str | None) -> list[FoundCluster]:
        wanted = text.lower()
        matches = []
        for project in self._listings:
            for found in self._listed(project):
                key = found.cluster_id if cluster_id is not None else (found.name or "").lower()
                if key == (cluster_id or wanted):
                    matches.append(found)
        return matches

    def _stale(self) -> list[ProjectRef]:
        now = self._clock()
        return [
            project
            for project, listing in self._listings.items()
            if (listing.listed is None or now - listing.listed >= self._ttl)
            and not self._failed_lately(listing, now)
        ]

    def _not_listed_since(self, mark: int) -> list[ProjectRef]:
        """Projects whose last list call started before the lookup did (round `mark`)."""
        now = self._clock()
        return [
            project
            for project, listing in self._listings.items()
            if listing.round <= mark and not self._failed_lately(listing, now)
        ]

    def _failed_lately(self, listing: _Listing, now: datetime) -> bool:
        """A project that just failed is not asked again at once: a burst of lookups must not
        become a burst of slow, failing list calls."""
        return (
            listing.failure is not None
            and listing.tried is not None
            and now - listing.tried < self._retry_after_failure
        )

    async def _refresh(self, projects: Iterable[ProjectRef], background: bool) -> None:
        tasks = []
        for project in projects:
            listing = self._listings[project]
            if listing.task is None:
                listing.task = asyncio.ensure_future(self._list(project, listing, background))
            tasks.append(listing.task)
        if tasks:
            await asyncio.shield(asyncio.gather(*tasks))

    async def _list(self, project: ProjectRef, listing: _Listing, background: bool) -> None:
        """One ListAutopilotClusters call; records the answer or the failure, never raises it."""
        started = listing.tried = self._clock()
        self._rounds += 1
        listing.round = self._rounds
        try:
            clusters = await self._cce.list_clusters(project, background=background)
        except CCEError as exc:
            listing.failure = Unlisted(project, str(exc), exc.request_id)
            logger.warning(
                "cce.clusters.list_failed",
                extra={
                    "project_id": project.project_id,
                    "request_id": exc.request_id,
                    "status": type(exc).__name__,
                },
            )
        else:
            listing.clusters, listing.listed, listing.failure = tuple(clusters), started, None
            listing.found = None
            self._generation += 1
        finally:
            listing.task = None

    def _unlisted(self) -> tuple[Unlisted, ...]:
        return tuple(x.failure for x in self._listings.values() if x.failure is not None)

    def _known(self) -> list[str]:
        names = [f.name for p in self._listings for f in self._listed(p) if f.name]
        return list(dict.fromkeys([*self._aliases, *sorted(names, key=str.lower)]))

    def _unknown(self, text: str, cluster_id: str | None) -> str:
        if cluster_id is not None:
            return (
                f"Cluster id `{cluster_id}` is not in any project the bot can list, and raw "
                "ids outside them need CCE_PROJECT_ID to be set"
            )
        known = self._known()
        shown = ", ".join(f"`{k}`" for k in known[:8]) + (", …" if len(known) > 8 else "")
        return (
            f"Unknown cluster `{_shown(text)}`. Known: {shown or 'none'} "
            "(`/cce-upgrade clusters` lists them all)"
        )

    @staticmethod
    def _ambiguous(text: str, matches: Sequence[FoundCluster]) -> str:
        each = "; ".join(f"`{m.cluster_id}` in project {m.project_id}" for m in matches)
        return f"Cluster name `{_shown(text)}` is in {len(matches)} projects; use its id: {each}"


def _found(ref: ClusterRef, cluster: Cluster, alias: str | None) -> FoundCluster:
    return FoundCluster(ref, alias, cluster.name, cluster.spec.version, cluster.status.phase)
