"""What a cluster lookup answers: the cluster found, every cluster seen, or why not (the errors).

Plain values; imports only the refs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.cce.endpoints import ClusterRef, ProjectRef

__all__ = [
    "AmbiguousCluster",
    "ClusterListing",
    "ClusterLookupError",
    "ClustersUnavailable",
    "FoundCluster",
    "InvalidClusterName",
    "UnknownCluster",
    "Unlisted",
]


@dataclass(frozen=True)
class FoundCluster:
    """A cluster the bot may act on, with what is known of it (name, version, phase)."""

    ref: ClusterRef
    alias: str | None = None
    name: str | None = None
    version: str | None = None
    phase: str | None = None

    @property
    def cluster_id(self) -> str:
        return self.ref.cluster_id

    @property
    def project_id(self) -> str:
        return self.ref.project_id

    @property
    def label(self) -> str:
        """What people call it: the alias, else the name, else the id."""
        return self.alias or self.name or self.ref.cluster_id


@dataclass(frozen=True)
class Unlisted:
    """A project whose clusters could not be listed, and why (the API's answer, no secrets)."""

    project: ProjectRef
    reason: str
    request_id: str | None


@dataclass(frozen=True)
class ClusterListing:
    """Every cluster the bot can see, and the projects it could not list."""

    clusters: tuple[FoundCluster, ...]
    unlisted: tuple[Unlisted, ...]


class ClusterLookupError(LookupError):
    """A cluster could not be found; the message is written for the person who typed it."""


class InvalidClusterName(ClusterLookupError):
    """Not an alias, a well-formed name or a cluster id: refused before any request."""


class UnknownCluster(ClusterLookupError):
    def __init__(self, message: str, known: Sequence[str]) -> None:
        super().__init__(message)
        self.known = tuple(known)


class AmbiguousCluster(ClusterLookupError):
    """The name is in more than one project: not guessed; `candidates` lists them all."""

    def __init__(self, message: str, candidates: Sequence[FoundCluster]) -> None:
        super().__init__(message)
        self.candidates = tuple(candidates)


class ClustersUnavailable(ClusterLookupError):
    """Not found in what could be listed, and some project could not be listed."""

    def __init__(self, message: str, unlisted: Sequence[Unlisted]) -> None:
        super().__init__(message)
        self.unlisted = tuple(unlisted)
