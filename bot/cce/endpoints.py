"""Where a cluster's API lives: region → endpoint, with per-cluster and global overrides."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from bot.cce.errors import CCEInvalidRequest
from bot.domain.ids import InvalidID, validate_cluster_id, validate_project_id

__all__ = ["ClusterRef", "ProjectRef", "endpoint_for_region", "validate_endpoint"]

_HOST = re.compile(r"[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?)*")
_IPV6 = re.compile(r"[0-9a-f.]*:[0-9a-f:.]*")
_REGION = re.compile(r"[a-z]{2,}(-[a-z0-9]+){1,3}")
# Huawei's one exception to the .com pattern (reference §1).
_SPECIAL_HOSTS = {"eu-west-101": "https://cce.eu-west-101.myhuaweicloud.eu"}


def endpoint_for_region(region: str) -> str:
    """`https://cce.<region>.myhuaweicloud.com` (or `.eu` for eu-west-101)."""
    if not _REGION.fullmatch(region):
        raise CCEInvalidRequest(f"region {region!r} is not valid: expected e.g. cn-north-4")
    return _SPECIAL_HOSTS.get(region, f"https://cce.{region}.myhuaweicloud.com")


@functools.lru_cache(maxsize=256)  # every watch's poll builds a ClusterRef; a bot has few endpoints
def validate_endpoint(endpoint: str) -> str:
    """An http(s) base URL with a host and no path, query or credentials; trailing `/` removed."""
    problem = CCEInvalidRequest(f"endpoint {endpoint!r} is not valid: expected https://host[:port]")
    if any(c.isspace() or not c.isprintable() for c in endpoint.strip()):
        raise problem  # urlsplit would silently drop tabs and newlines
    try:
        parts = urlsplit(endpoint.strip())
        port = parts.port  # raises ValueError when out of range or not a number
    except ValueError:
        raise problem from None
    host = parts.hostname or ""
    if (
        parts.scheme not in ("http", "https")
        or not (_HOST.fullmatch(host) or _IPV6.fullmatch(host))
        or parts.username
        or parts.password
        or parts.query
        or parts.fragment
        or parts.path not in ("", "/")
        or (port is not None and not 0 < port < 65536)
    ):
        raise problem
    return f"{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True)
class ProjectRef:
    """A project the client may list clusters in: its id and API endpoint, both validated."""

    project_id: str
    endpoint: str

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "project_id", validate_project_id(self.project_id))
        except InvalidID as exc:
            raise CCEInvalidRequest(str(exc)) from exc
        object.__setattr__(self, "endpoint", validate_endpoint(self.endpoint))

    @property
    def clusters_path(self) -> str:
        return f"/autopilot/v3/projects/{self.project_id}/clusters"


@dataclass(frozen=True)
class ClusterRef:
    """A cluster the client may call: its project, id and API endpoint, all validated."""

    project_id: str
    cluster_id: str
    endpoint: str

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "project_id", validate_project_id(self.project_id))
            object.__setattr__(self, "cluster_id", validate_cluster_id(self.cluster_id))
        except InvalidID as exc:
            raise CCEInvalidRequest(str(exc)) from exc
        object.__setattr__(self, "endpoint", validate_endpoint(self.endpoint))

    @property
    def project(self) -> ProjectRef:
        return ProjectRef(self.project_id, self.endpoint)

    @property
    def cluster_path(self) -> str:
        return f"/autopilot/v3/projects/{self.project_id}/clusters/{self.cluster_id}"

    @property
    def workflows_path(self) -> str:
        return f"{self.cluster_path}/operation/upgradeworkflows"
